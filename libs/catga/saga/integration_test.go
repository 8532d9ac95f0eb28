package saga_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/rediscluster"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/redisfence"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
	sredis "github.com/catga-go/catga/libs/catga/sagastore/redis"
	"github.com/catga-go/catga/libs/catga/sagastore/storetest"
)

// Environment of a peer process (the test binary re-executed).
const (
	peerEnv    = "CATGA_SAGA_PEER" // kill point: sent | replied | compensating
	peerRedis  = "CATGA_SAGA_PEER_REDIS"
	peerPrefix = "CATGA_SAGA_PEER_PREFIX"
	peerSaga   = "CATGA_SAGA_PEER_ID"
	peerReject = "CATGA_SAGA_PEER_REJECT_AT"
	peerNATS   = "CATGA_SAGA_PEER_NATS" // when set, the saga store is NATS KV there
	peerStep   = "CATGA_SAGA_PEER_STEP" // the step whose boundary the kill point is at
)

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{}) // dial errors to killed nodes are expected
	if point := os.Getenv(peerEnv); point != "" {
		os.Exit(runPeer(point))
	}
	flag.Parse()
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

var (
	sharedOnce sync.Once
	shared     *rediscluster.Cluster
	sharedErr  error
)

// sharedCluster returns the package's Redis Cluster for tests that do not
// kill nodes, starting it on first use.
func sharedCluster(t *testing.T) *rediscluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs redis-server (a 6-node Redis Cluster): skipped under -short")
	}
	sharedOnce.Do(func() { shared, sharedErr = rediscluster.New(rediscluster.Config{}) })
	if sharedErr != nil {
		t.Fatalf("redis cluster: %v", sharedErr)
	}
	return shared
}

func clusterClient(addrs []string) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: addrs, DialTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, MaxRetries: 2,
		MinRetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
	})
}

// Participant messages.
type (
	doStep struct {
		Step   int
		Reject bool
	}
	undoStep struct{ Step int }
	ack      struct{}
)

type peerData struct{ RejectAt int }

func effectsKey(prefix, sagaID string) string { return prefix + ":effects:{" + sagaID + "}" }

// participants registers the step participants on a mediator. Each records
// its effect in Redis under the message's idempotency key, behind a
// RedisFence. after runs once an action or compensation is applied and
// committed, before the reply goes back.
func participants(rdb redis.UniversalClient, prefix string, after func(step int, undo bool)) *mediator.Mediator {
	fence := redisfence.New(rdb, prefix, time.Hour)
	// The effect and its fence record commit in one Redis transaction, as a
	// participant's effect and idempotency record must for exactly-once.
	apply := func(ctx context.Context) error {
		op, ok := saga.OpFrom(ctx)
		if !ok {
			return errors.New("step message without saga metadata")
		}
		_, err := fence.Apply(ctx, op, func(tx redis.Pipeliner) error {
			md, _ := catga.MetadataFrom(ctx)
			tx.HIncrBy(ctx, effectsKey(prefix, op.Saga), md.Key(), 1)
			return nil
		})
		return err
	}
	m := mediator.New()
	_ = mediator.Handle(m, func(ctx context.Context, req doStep) (ack, error) {
		if req.Reject {
			return ack{}, catga.Reject("declined", "step %d declines", req.Step)
		}
		err := apply(ctx)
		if err == nil && after != nil {
			after(req.Step, false)
		}
		return ack{}, err
	})
	_ = mediator.Handle(m, func(ctx context.Context, req undoStep) (ack, error) {
		err := apply(ctx)
		if err == nil && after != nil {
			after(req.Step, true)
		}
		return ack{}, err
	})
	return m
}

// peerDefinition: three steps that call the participants through the
// mediator, retrying long enough to ride out a Redis failover.
func peerDefinition(m *mediator.Mediator) saga.Definition[peerData] {
	retry := saga.RetryPolicy{MaxAttempts: 40, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
	var steps []saga.Step[peerData]
	for i := range 3 {
		steps = append(steps, saga.Step[peerData]{
			Name: "s" + strconv.Itoa(i),
			Action: func(ctx context.Context, d *peerData) error {
				_, err := mediator.Send[ack](ctx, m, doStep{Step: i, Reject: d.RejectAt == i})
				return err
			},
			Compensate: func(ctx context.Context, d *peerData) error {
				_, err := mediator.Send[ack](ctx, m, undoStep{Step: i})
				return err
			},
			Timeout: 2 * time.Second, Retry: retry, CompensationRetry: retry,
		})
	}
	return saga.Definition[peerData]{Name: "peer-saga", Steps: steps}
}

// openStore opens the saga store of a kill test: NATS KV when natsURL is
// set, else Redis.
func openStore(rdb redis.UniversalClient, natsURL, prefix string) (sagastore.Store, func(), error) {
	if natsURL == "" {
		s := sredis.New(rdb, sredis.WithPrefix(prefix))
		return s, func() { _ = s.Close() }, nil
	}
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := natskv.New(ctx, js, natskv.Config{Bucket: prefix})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return s, nc.Close, nil
}

// runPeer is the body of a peer process: it runs one saga and, at its kill
// point, reports through Redis and waits to be SIGKILLed.
func runPeer(point string) int {
	rdb := clusterClient(strings.Split(os.Getenv(peerRedis), ","))
	prefix, id := os.Getenv(peerPrefix), os.Getenv(peerSaga)
	rejectAt, _ := strconv.Atoi(os.Getenv(peerReject))
	killStep, _ := strconv.Atoi(os.Getenv(peerStep))
	reached := func() {
		_ = rdb.Set(context.Background(), prefix+":reached:{"+id+"}", point, time.Minute).Err()
		time.Sleep(30 * time.Second) // bounded: the test kills us long before
		fmt.Fprintln(os.Stderr, "peer: not killed")
		os.Exit(3)
	}
	m := participants(rdb, prefix, func(step int, undo bool) {
		if point == "sent" && step == killStep && !undo {
			reached() // the participant applied the step; its reply never arrives
		}
	})
	store, closeStore, err := openStore(rdb, os.Getenv(peerNATS), prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		return 2
	}
	defer closeStore()
	e := saga.New(store, saga.WithOwner("peer-"+point), saga.WithLeaseTTL(500*time.Millisecond),
		saga.WithHook(func(_ context.Context, p saga.Point, rec *saga.Record) {
			switch {
			case point == "replied" && p == saga.AfterActionReply && rec.Step == killStep:
				reached() // the step replied, outcome not persisted
			case point == "compensating" && p == saga.AfterCompensationReply && rec.Step == killStep:
				reached() // the step compensated, not persisted
			}
		}))
	s, err := saga.Register(e, peerDefinition(m))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Run(ctx, id, peerData{RejectAt: rejectAt}); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		return 2
	}
	fmt.Fprintln(os.Stderr, "peer: finished without reaching", point)
	return 4
}

// TestKilledPeerIsFinishedByAnother re-executes the test binary as a peer,
// SIGKILLs it at a step boundary, and checks that a peer in this process
// finishes the saga with every participant effect applied exactly once. The
// saga store is the Redis Cluster, then NATS KV on an embedded nats-server
// both processes connect to; participants keep their effects in Redis.
func TestKilledPeerIsFinishedByAnother(t *testing.T) {
	c := sharedCluster(t)
	srv, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	for _, store := range []struct{ name, natsURL string }{{"redis", ""}, {"natskv", srv.ClientURL()}} {
		t.Run(store.name, func(t *testing.T) { killedPeer(t, c, store.natsURL) })
	}
}

func killedPeer(t *testing.T, c *rediscluster.Cluster, natsURL string) {
	type killCase struct {
		name, point    string
		step, rejectAt int
		want           sagastore.State
	}
	var cases []killCase
	for step := range 3 {
		cases = append(cases,
			killCase{fmt.Sprintf("after sending step %d", step), "sent", step, -1, sagastore.StateCompleted},
			killCase{fmt.Sprintf("after step %d replied before persisting", step), "replied", step, -1, sagastore.StateCompleted})
	}
	// Step 2 is rejected: steps 1 and 0 are compensated, in that order.
	for _, step := range []int{1, 0} {
		cases = append(cases, killCase{fmt.Sprintf("during compensation of step %d", step), "compensating", step, 2, sagastore.StateCompensated})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
			defer cancel()
			rdb := clusterClient(c.Addrs())
			defer func() { _ = rdb.Close() }()
			prefix, id := "kill", uuid.NewString()
			if natsURL != "" {
				prefix = "kv-kill"
			}

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), peerEnv+"="+tc.point, peerRedis+"="+strings.Join(c.Addrs(), ","),
				peerPrefix+"="+prefix, peerSaga+"="+id, peerReject+"="+strconv.Itoa(tc.rejectAt), peerNATS+"="+natsURL,
				peerStep+"="+strconv.Itoa(tc.step))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }() // owned by this test: drained below
			reached := false
			for i := 0; i < 400 && !reached; i++ {
				select {
				case err := <-exited:
					t.Fatalf("peer exited early: %v\n%s", err, stderr.String())
				case <-time.After(25 * time.Millisecond):
				}
				v, _ := rdb.Get(ctx, prefix+":reached:{"+id+"}").Result()
				reached = v == tc.point
			}
			if !reached {
				_ = cmd.Process.Kill()
				t.Fatalf("peer never reached %s (exit: %v)\n%s", tc.point, <-exited, stderr.String())
			}
			_ = cmd.Process.Kill() // SIGKILL
			if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("peer exit: %v, want killed by SIGKILL\n%s", err, stderr.String())
			}

			store, closeStore, err := openStore(rdb, natsURL, prefix)
			if err != nil {
				t.Fatal(err)
			}
			defer closeStore()
			before, err := store.Get(ctx, id)
			if err != nil || before.Owner != "peer-"+tc.point || !before.State.Active() {
				t.Fatalf("after the kill: %+v, %v", before, err)
			}
			b := saga.New(store, saga.WithOwner("survivor"), saga.WithLeaseTTL(500*time.Millisecond),
				saga.WithRecoveryInterval(100*time.Millisecond))
			defer func() { _ = b.Close(context.Background()) }()
			if _, err := saga.Register(b, peerDefinition(participants(rdb, prefix, nil))); err != nil {
				t.Fatal(err)
			}
			if err := b.Start(); err != nil {
				t.Fatal(err)
			}
			final, err := b.Await(ctx, id)
			if err != nil || final.State != tc.want || final.Owner != "survivor" || final.Epoch != 2 {
				t.Fatalf("final %s owner %s epoch %d (%v), want %s by survivor at epoch 2", final.State, final.Owner, final.Epoch, err, tc.want)
			}
			wantStatus := []sagastore.StepStatus{sagastore.StepSucceeded, sagastore.StepSucceeded, sagastore.StepSucceeded}
			if tc.want == sagastore.StateCompensated {
				// The rejected step is compensated too (its participant
				// tombstones the key: see needsCompensation).
				wantStatus = []sagastore.StepStatus{sagastore.StepCompensated, sagastore.StepCompensated, sagastore.StepCompensated}
			}
			for k, st := range final.Steps {
				if st.Status != wantStatus[k] {
					t.Fatalf("step %d is %q, want %q", k, st.Status, wantStatus[k])
				}
			}
			// The interrupted step and those before it keep the key minted
			// by the first owner: a resumed step is a repeat, not a new call.
			for k := 0; k <= tc.step; k++ {
				if final.Steps[k].KeyEpoch != 1 {
					t.Fatalf("step %d re-keyed at epoch %d: %+v", k, final.Steps[k].KeyEpoch, final.Steps)
				}
			}
			checkEffects(t, ctx, rdb, prefix, final)
		})
	}
}

// TestMasterKillDuringSagas kills the Redis master holding a share of the
// sagas while many run on two peers, with a cluster-node-timeout (3s) longer
// than the lease TTL (1s): writes to that shard fail for longer than a
// lease, so final transitions give up mid-outage and leases expire. Every
// saga still ends Completed or Compensated with each effect applied once,
// and none is left out of the due index.
func TestMasterKillDuringSagas(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Config{NodeTimeout: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second) // about 10s on an idle machine
	defer cancel()
	rdb := clusterClient(c.Addrs())
	defer func() { _ = rdb.Close() }()
	const prefix, n = "mk", 120
	var engines []*saga.Engine
	var sagas []*saga.Saga[peerData]
	for _, name := range []string{"p1", "p2"} {
		// Creates wait for a replica: without it a saga started just before
		// the kill can be lost with the master, and awaited for ever. (After
		// the failover the new master has no replica: its creates report
		// ErrNotReplicated after the short wait, and the retry finds them.)
		store := sredis.New(rdb, sredis.WithPrefix(prefix), sredis.WithCreateReplicas(1, 200*time.Millisecond))
		defer func() { _ = store.Close() }()
		if name == "p1" {
			defer storetest.CheckRecoverable(t, store) // after the engines closed (deferred later, run earlier)
		}
		e := saga.New(store, saga.WithOwner(name), saga.WithLeaseTTL(time.Second), saga.WithRecoveryInterval(200*time.Millisecond))
		defer func() { _ = e.Close(context.Background()) }()
		// The last step takes a while, so that the kill finds many sagas
		// about to write their final transition.
		slowLast := func(step int, undo bool) {
			if step == 2 && !undo {
				time.Sleep(300 * time.Millisecond)
			}
		}
		s, err := saga.Register(e, peerDefinition(participants(rdb, prefix, slowLast)))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		engines, sagas = append(engines, e), append(sagas, s)
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	killed := make(chan struct{})
	for i := range n {
		ids[i] = uuid.NewString()
		if i == n/3 {
			wg.Go(func() {
				defer close(killed)
				if _, err := c.KillMaster(ctx, "x:{"+ids[0]+"}"); err != nil {
					t.Error(err)
				}
			})
		}
		reject := -1
		if i%4 == 0 {
			reject = 2
		}
		// Starts retry through the outage: the saga must exist before it can
		// be owed completion.
		for try := 0; ; try++ {
			_, err := sagas[i%2].Start(ctx, ids[i], peerData{RejectAt: reject})
			if err == nil || errors.Is(err, sagastore.ErrExists) { // exists: an earlier try created it
				break
			}
			if try > 200 || ctx.Err() != nil {
				t.Fatalf("start %d: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
	}
	<-killed
	wg.Wait()
	counts := map[sagastore.State]int{}
	for i, id := range ids {
		final, err := engines[i%2].Await(ctx, id)
		if err != nil {
			t.Fatalf("saga %d: %v; record %+v", i, err, final)
		}
		counts[final.State]++
		// Keys carry the epoch the step was first started in.
		checkEffects(t, ctx, rdb, prefix, final)
	}
	if counts[sagastore.StateCompleted]+counts[sagastore.StateCompensated] != n {
		t.Fatalf("outcomes %v", counts)
	}
	t.Logf("outcomes after a master kill: %v", counts)
}

// checkEffects asserts that the participants applied exactly the effects the
// final record says happened, each once: the action of every step that
// succeeded or was compensated, and the compensation of every compensated
// step, under the keys the record holds.
func checkEffects(t *testing.T, ctx context.Context, rdb redis.UniversalClient, prefix string, final saga.Record) {
	t.Helper()
	want := map[string]string{}
	for i, st := range final.Steps {
		key := saga.ActionKey(final.ID, i, st.KeyEpoch)
		if st.Rejected {
			continue // never applied; its compensation found nothing to undo
		}
		if st.Status == sagastore.StepSucceeded || st.Status == sagastore.StepCompensated {
			want[key] = "1"
		}
		if st.Status == sagastore.StepCompensated {
			want[key+saga.UndoSuffix] = "1"
		}
	}
	got, err := rdb.HGetAll(ctx, effectsKey(prefix, final.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("saga %s (%s, steps %+v): effects %v, want %v", final.ID, final.State, final.Steps, got, want)
	}
}
