package redis_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/sagastore"
	sredis "github.com/catga-go/catga/libs/catga/sagastore/redis"
)

// roundTrips counts the commands and pipelines sent to the nodes that
// name a key of prefix, except a script's first call on a node (answered
// NOSCRIPT, then sent in full).
type roundTrips struct {
	prefix string
	n      atomic.Int64
}

func (c *roundTrips) ours(cmds ...goredis.Cmder) bool {
	for _, cmd := range cmds {
		for _, a := range cmd.Args() {
			if k, ok := a.(string); ok && strings.HasPrefix(k, c.prefix) {
				return true
			}
		}
	}
	return false
}

func (c *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if c.ours(cmd) && !goredis.HasErrorPrefix(err, "NOSCRIPT") {
			c.n.Add(1)
		}
		return err
	}
}
func (c *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		if c.ours(cmds...) {
			c.n.Add(1)
		}
		return err
	}
}

func finishedIDs(t *testing.T, ctx context.Context, s sagastore.Store, state sagastore.State) []string {
	t.Helper()
	recs, err := s.List(ctx, state, 0)
	if err != nil {
		t.Fatalf("List(%s): %v", state, err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

func running(t *testing.T, ctx context.Context, s sagastore.Store) sagastore.Record {
	t.Helper()
	rec := sagastore.Record{ID: uuid.NewString(), Name: "fin", State: sagastore.StateRunning, Epoch: 1, LeaseUntil: time.Now().Add(time.Hour)}
	v, err := s.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.Version = v
	return rec
}

func complete(t *testing.T, ctx context.Context, s sagastore.Store, rec sagastore.Record) {
	t.Helper()
	rec.State, rec.UpdatedAt = sagastore.StateCompleted, time.Now()
	if _, err := s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
}

// TestFinalTransitionOneRoundTrip: the transition that finishes a saga also
// indexes it, in its one script call (with enough shards that the record's
// node holds one).
func TestFinalTransitionOneRoundTrip(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	client := cluster.Client(clusterOptions())
	defer func() { _ = client.Close() }()
	rt := &roundTrips{prefix: "rt-" + uuid.NewString()[:8]}
	client.OnNewNode(func(n *goredis.Client) { n.AddHook(rt) })
	s := sredis.New(client, sredis.WithPrefix(rt.prefix), sredis.WithShards(64))
	defer func() { _ = s.Close() }()
	var want []string
	for range 20 {
		rec := running(t, ctx, s)
		before := rt.n.Load()
		complete(t, ctx, s, rec)
		if n := rt.n.Load() - before; n != 1 {
			t.Fatalf("the final transition took %d round trips, want 1", n)
		}
		want = append(want, rec.ID)
	}
	if got := finishedIDs(t, ctx, s, sagastore.StateCompleted); !slices.Equal(got, want) {
		t.Fatalf("List(completed) = %v, want %v", got, want)
	}
}

// TestFinishedIndexTrimmedOnWrite: each write to a finished-index shard
// removes up to 4 entries past the retention: the index stays bounded, in
// bounded steps.
func TestFinishedIndexTrimmedOnWrite(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	client := cluster.Client(clusterOptions())
	defer func() { _ = client.Close() }()
	prefix := "trim-" + uuid.NewString()[:8]
	const retention = 300 * time.Millisecond
	s := sredis.New(client, sredis.WithPrefix(prefix), sredis.WithShards(1), sredis.WithFinishedRetention(retention))
	defer func() { _ = s.Close() }()
	shard := prefix + ":fin:completed:{0}"
	for range 6 {
		complete(t, ctx, s, running(t, ctx, s))
	}
	if n := client.ZCard(ctx, shard).Val(); n != 6 {
		t.Fatalf("shard holds %d entries, want 6", n)
	}
	time.Sleep(retention + 50*time.Millisecond) // the six are past the retention now
	late := running(t, ctx, s)
	complete(t, ctx, s, late)
	if n := client.ZCard(ctx, shard).Val(); n != 3 {
		t.Fatalf("after one write past the retention the shard holds %d entries, want 3 (4 trimmed, 1 added)", n)
	}
	complete(t, ctx, s, running(t, ctx, s))
	if n := client.ZCard(ctx, shard).Val(); n != 2 {
		t.Fatalf("after a second write the shard holds %d entries, want 2 (the last 2 old ones trimmed, 1 added)", n)
	}
}

// TestLegacyFinishedSagasListed: records that finished before the store
// kept a finished index are indexed by a one-time migration on the first
// listing (those past the retention excepted); a saga both migrated and
// indexed by its own final write is listed once; the migration does not
// run again.
func TestLegacyFinishedSagasListed(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	client := cluster.Client(clusterOptions())
	defer func() { _ = client.Close() }()
	prefix := "legacy-" + uuid.NewString()[:8]
	s := sredis.New(client, sredis.WithPrefix(prefix))
	defer func() { _ = s.Close() }()
	plant := func(state sagastore.State, finished time.Time) string {
		rec := sagastore.Record{ID: uuid.NewString(), Name: "legacy", State: state, Epoch: 1, CreatedAt: finished, UpdatedAt: finished}
		b, err := sagastore.Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.HSet(ctx, s.Key(rec.ID), "v", "3", "d", b).Err(); err != nil { // as the old store wrote it
			t.Fatal(err)
		}
		return rec.ID
	}
	oldest := plant(sagastore.StateCompleted, time.Now().Add(-2*time.Hour))
	older := plant(sagastore.StateCompleted, time.Now().Add(-time.Hour))
	comp := plant(sagastore.StateCompensated, time.Now().Add(-time.Hour))
	plant(sagastore.StateCompleted, time.Now().Add(-8*24*time.Hour)) // past the default retention
	plant(sagastore.StateRunning, time.Now())
	since := running(t, ctx, s) // finished after the upgrade, before the first listing
	complete(t, ctx, s, since)

	if got, want := finishedIDs(t, ctx, s, sagastore.StateCompleted), []string{oldest, older, since.ID}; !slices.Equal(got, want) {
		t.Fatalf("List(completed) = %v, want %v", got, want)
	}
	if got := finishedIDs(t, ctx, s, sagastore.StateCompensated); !slices.Equal(got, []string{comp}) {
		t.Fatalf("List(compensated) = %v, want [%s]", got, comp)
	}
	// Another peer's store finds the marker and does not scan again: a
	// record planted now stays unlisted.
	plant(sagastore.StateCompleted, time.Now())
	other := sredis.New(client, sredis.WithPrefix(prefix))
	defer func() { _ = other.Close() }()
	if got, want := finishedIDs(t, ctx, other, sagastore.StateCompleted), []string{oldest, older, since.ID}; !slices.Equal(got, want) {
		t.Fatalf("List(completed) on another store = %v, want %v (no second migration)", got, want)
	}
}
