package redis_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/rediscluster"
	"github.com/catga-go/catga/libs/catga/sagastore"
	sredis "github.com/catga-go/catga/libs/catga/sagastore/redis"
	"github.com/catga-go/catga/libs/catga/sagastore/storetest"
)

// cluster is shared by the tests that do not kill nodes.
var cluster *rediscluster.Cluster

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	flag.Parse()
	goredis.SetLogger(quiet{}) // dial errors during the failover test are expected
	if !testing.Short() {
		c, err := rediscluster.New(rediscluster.Config{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "redis cluster:", err)
			os.Exit(1)
		}
		cluster = c
	}
	code := m.Run()
	if cluster != nil {
		cluster.Close()
	}
	os.Exit(code)
}

func needCluster(t *testing.T) {
	if cluster == nil {
		t.Skip("needs redis-server (a 6-node Redis Cluster): skipped under -short")
	}
}

func clusterOptions() *goredis.ClusterOptions {
	return &goredis.ClusterOptions{
		DialTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, MaxRetries: 2,
		MinRetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
	}
}

func TestConformanceCluster(t *testing.T) {
	needCluster(t)
	for _, tc := range []struct {
		name   string
		shards int
	}{
		{"8 shards", 8}, // the finished index is nearly always written by the record's script
		{"1 shard", 1},  // mostly by a write of its own before the record's
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := cluster.Client(clusterOptions())
			t.Cleanup(func() { _ = client.Close() })
			// Counted at the node clients, which every command reaches
			// (including those of ForEachMaster, which a cluster hook misses).
			work := &recordCommands{}
			client.OnNewNode(func(n *goredis.Client) { n.AddHook(work) })
			open := func(t *testing.T, opts ...sredis.Option) sagastore.Store {
				s := sredis.New(client, append([]sredis.Option{sredis.WithPrefix("t-" + uuid.NewString()[:8]), sredis.WithShards(tc.shards)}, opts...)...)
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			storetest.Run(t, storetest.Harness{
				Features: storetest.Features{Parallel: true, Corrupt: func(t *testing.T, s sagastore.Store, id string) {
					if err := client.HSet(context.Background(), s.(*sredis.Store).Key(id), "v", "1", "d", "{oops").Err(); err != nil {
						t.Fatal(err)
					}
				},
					Work: func(s sagastore.Store) int64 { return work.count(s.(*sredis.Store).Key("")) },
					NewWithRetention: func(t *testing.T, d time.Duration) sagastore.Store {
						return open(t, sredis.WithFinishedRetention(d))
					},
				},
				New: func(t *testing.T) sagastore.Store { return open(t) },
			})
		})
	}
}

// recordCommands counts the commands that name a saga record, by the
// record keys' prefix ("<prefix>:saga:{").
type recordCommands struct {
	mu sync.Mutex
	n  map[string]int64
}

func (h *recordCommands) count(recordKey string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[strings.TrimSuffix(recordKey, "}")]
}

func (h *recordCommands) add(cmds ...goredis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int64{}
	}
	for _, c := range cmds {
		for _, a := range c.Args() {
			if k, ok := a.(string); ok {
				if i := strings.Index(k, ":saga:{"); i >= 0 {
					h.n[k[:i+len(":saga:{")]]++
					break
				}
			}
		}
	}
}

func (h *recordCommands) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *recordCommands) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { h.add(cmd); return next(ctx, cmd) }
}
func (h *recordCommands) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { h.add(cmds...); return next(ctx, cmds) }
}

// TestRetentionSurvivesUpdates: a final record gets the retention TTL and
// later updates keep it.
func TestRetentionSurvivesUpdates(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	client := cluster.Client(clusterOptions())
	defer func() { _ = client.Close() }()
	s := sredis.New(client, sredis.WithPrefix("ttl-"+uuid.NewString()[:8]), sredis.WithRetention(time.Hour))
	defer func() { _ = s.Close() }()
	rec := sagastore.Record{ID: uuid.NewString(), Name: "ttl", State: sagastore.StateRunning, LeaseUntil: time.Now()}
	v, err := s.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := client.PTTL(ctx, s.Key(rec.ID)).Val(); ttl != -1*time.Nanosecond && ttl >= 0 {
		t.Fatalf("running saga has TTL %v", ttl)
	}
	rec.Version, rec.State = v, sagastore.StateCompleted
	if v, err = s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// A later update (an operator note) must keep the expiry.
	rec.Version, rec.Error = v, "annotated"
	rec.State = sagastore.StateStuck // not final: the script sets no new TTL
	if _, err = s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	ttl := client.PTTL(ctx, s.Key(rec.ID)).Val()
	if ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL after updates = %v, want about 1h", ttl)
	}
}

// TestFailoverWriteOutage kills the master of a saga's slot while a writer
// keeps updating the saga, and checks that writes resume within about
// cluster-node-timeout + 2.5 s (go-redis#3979: without reloading the slot
// map the client keeps dialling the dead master).
func TestFailoverWriteOutage(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Config{}) // its own cluster: this test kills a node
	client := c.Client(clusterOptions())
	defer func() { _ = client.Close() }()
	s := sredis.New(client, sredis.WithPrefix("fo")) // default reload interval
	defer func() { _ = s.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	rec := sagastore.Record{ID: uuid.NewString(), Name: "failover", State: sagastore.StateRunning, LeaseUntil: time.Now()}
	v, err := s.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.Version = v
	write := func() error {
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		rec.UpdatedAt = time.Now()
		nv, err := s.Update(wctx, rec)
		if errors.Is(err, sagastore.ErrConflict) {
			// An earlier write whose reply was lost did apply: re-read.
			cur, gerr := s.Get(wctx, rec.ID)
			if gerr != nil {
				return gerr
			}
			rec.Version = cur.Version
			return err
		}
		if err == nil {
			rec.Version = nv
		}
		return err
	}
	for range 20 {
		if err := write(); err != nil {
			t.Fatalf("write before the kill: %v", err)
		}
	}
	if _, err := c.KillMaster(ctx, s.Key(rec.ID)); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var outage time.Duration
	failures := 0
	var lastErr error
	for i := 0; ; i++ {
		if ctx.Err() != nil || i > 10000 {
			t.Fatalf("writes did not resume: %d failures in %v, last: %v\n%s", failures, time.Since(killed), lastErr, c.Logs())
		}
		if err := write(); err != nil {
			lastErr = err
			failures++
			time.Sleep(10 * time.Millisecond)
			continue
		}
		outage = time.Since(killed)
		break
	}
	limit := c.NodeTimeout + 2500*time.Millisecond
	t.Logf("write outage after master kill: %v (%d failed writes), limit %v", outage, failures, limit)
	if outage > limit {
		t.Fatalf("write outage %v exceeds node-timeout + 2.5s = %v", outage, limit)
	}
	for range 20 {
		if err := write(); err != nil {
			t.Fatalf("write after recovery: %v", err)
		}
	}
}

// TestCreateWaitsForReplicas: with WithCreateReplicas, Create succeeds when
// the replicas acknowledge the record (WAIT) and fails when fewer replicas
// than asked acknowledge in time (the cluster has one replica per master).
func TestCreateWaitsForReplicas(t *testing.T) {
	needCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := cluster.Client(clusterOptions())
	defer func() { _ = client.Close() }()
	for _, tc := range []struct {
		name     string
		replicas int
		wantErr  error
	}{
		{"one replica acknowledges", 1, nil},
		{"more replicas than exist", 2, sredis.ErrNotReplicated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sredis.New(client, sredis.WithPrefix("wait-"+uuid.NewString()[:8]), sredis.WithCreateReplicas(tc.replicas, 200*time.Millisecond))
			defer func() { _ = s.Close() }()
			rec := sagastore.Record{ID: uuid.NewString(), Name: "wait", State: sagastore.StateRunning, Epoch: 1, LeaseUntil: time.Now()}
			_, err := s.Create(ctx, rec)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Create: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if _, err := s.Create(ctx, rec); !errors.Is(err, sagastore.ErrExists) {
				t.Fatalf("second Create: %v, want ErrExists", err)
			}
		})
	}
}

// TestDueSkipsUnreachableShard: with the master of some due-index shards
// dead (before the failover), Due still returns the entries of the other
// shards instead of failing, so recovery goes on for their sagas.
func TestDueSkipsUnreachableShard(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Config{NodeTimeout: 5 * time.Second}) // own cluster: a node is killed
	client := c.Client(clusterOptions())
	defer func() { _ = client.Close() }()
	s := sredis.New(client, sredis.WithPrefix("dk"), sredis.WithShards(16))
	defer func() { _ = s.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	past := time.Now().Add(-time.Minute)
	for range 48 {
		rec := sagastore.Record{ID: uuid.NewString(), Name: "due", State: sagastore.StateRunning, Epoch: 1, LeaseUntil: past}
		if _, err := s.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Due(ctx, time.Now(), 0)
	if err != nil || len(all) != 48 {
		t.Fatalf("Due before the kill: %d entries, %v", len(all), err)
	}
	if _, err := c.KillMaster(ctx, "dk:due:{0}"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Due(ctx, time.Now(), 0)
	if err != nil {
		t.Fatalf("Due with one master down: %v, want the other shards' entries", err)
	}
	if len(got) == 0 || len(got) >= 48 {
		t.Fatalf("Due with one master down returned %d of 48 entries, want the reachable part", len(got))
	}
	t.Logf("Due with one master down: %d of 48 entries", len(got))
}
