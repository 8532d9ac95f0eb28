package natstransport_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// Fault tests: a real 3-node nats-server cluster in-process, peers that are
// separate connections, and invariants instead of timings: every request
// succeeds within its deadline and every message id has its effect once.

type Charge struct {
	N int `json:"n"`
}

type Charged struct {
	N    int    `json:"n"`
	Peer string `json:"peer"`
}

var chargeRoute = transport.NewRoute[Charge, Charged]("payment.charge")

// ledger records handler effects by message id, across every peer.
type ledger struct {
	mu      sync.Mutex
	effects map[string]int
	byPeer  map[string]int
}

func newLedger() *ledger { return &ledger{effects: map[string]int{}, byPeer: map[string]int{}} }

func (l *ledger) apply(id, peer string) {
	l.mu.Lock()
	l.effects[id]++
	l.byPeer[peer]++
	l.mu.Unlock()
}

func (l *ledger) peerCount(peer string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byPeer[peer]
}

// checkOnce fails unless each of ids had exactly one effect.
func (l *ledger) checkOnce(t *testing.T, ids []string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	bad := 0
	for _, id := range ids {
		if n := l.effects[id]; n != 1 {
			bad++
			if bad <= 5 {
				t.Errorf("message %s had %d effects, want exactly 1", id, n)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d messages did not have exactly one effect", bad, len(ids))
	}
}

type cluster struct {
	*natsembed.Cluster
	store idempotency.Store // shared by the responders, as Redis would be
	led   *ledger

	mu     sync.Mutex
	stores map[*natstransport.Transport]*crashable // each responder's handle on store
}

// crashable is one responder's handle on the shared store. A crashed
// process makes no more calls (its claim renewals stop, so its claim
// lapses); a responder killed in-process keeps its goroutines, so crash
// cuts them off from the store the way the process's death would.
type crashable struct {
	idempotency.Store
	dead atomic.Bool
}

var errCrashed = errors.New("test: this peer's process is dead")

func (s *crashable) Claim(ctx context.Context, key string, lease time.Duration) (bool, []byte, error) {
	if s.dead.Load() {
		return false, nil, errCrashed
	}
	return s.Store.Claim(ctx, key, lease)
}

func (s *crashable) Renew(ctx context.Context, key string, lease time.Duration) error {
	if s.dead.Load() {
		return errCrashed
	}
	return s.Store.Renew(ctx, key, lease)
}

func (s *crashable) Complete(ctx context.Context, key string, reply []byte, ttl time.Duration) error {
	if s.dead.Load() {
		return errCrashed
	}
	return s.Store.Complete(ctx, key, reply, ttl)
}

func (s *crashable) Release(ctx context.Context, key string) error {
	if s.dead.Load() {
		return errCrashed
	}
	return s.Store.Release(ctx, key)
}

// crash kills responder r as a process crash would: its connection drops
// and it makes no more calls to the shared store.
func (c *cluster) crash(r *natstransport.Transport) {
	c.mu.Lock()
	s := c.stores[r]
	c.mu.Unlock()
	s.dead.Store(true)
	r.Kill()
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a 3-node embedded nats-server cluster; skipped in -short mode")
	}
	c, err := natsembed.StartCluster(3)
	if err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	t.Cleanup(c.Shutdown)
	return &cluster{Cluster: c, store: idempotency.NewMemory(), led: newLedger(), stores: map[*natstransport.Transport]*crashable{}}
}

// peerOn connects to node first (falling back to the others).
func (c *cluster) peerOn(t *testing.T, node int, name string) *natstransport.Transport {
	t.Helper()
	urls := c.URLs()
	ordered := append([]string{urls[node]}, append(append([]string{}, urls[:node]...), urls[node+1:]...)...)
	tr, err := natstransport.Connect(natstransport.Config{URLs: ordered, Name: name, NoRandomize: true})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	waitFor(t, 5*time.Second, name+" connected", func() bool { return tr.Conn().IsConnected() })
	return tr
}

// responder serves Charge as peer name; block, when set, runs before the
// effect and may veto it.
func (c *cluster) responder(t *testing.T, node int, name string, block func(ctx context.Context) error) *natstransport.Transport {
	t.Helper()
	tr := c.peerOn(t, node, name)
	m := mediator.New()
	_ = mediator.Handle(m, func(ctx context.Context, req Charge) (Charged, error) {
		if block != nil {
			if err := block(ctx); err != nil {
				return Charged{}, err
			}
		}
		md, _ := catga.MetadataFrom(ctx)
		c.led.apply(md.MessageID, name)
		return Charged{N: req.N, Peer: name}, nil
	})
	store := &crashable{Store: c.store}
	c.mu.Lock()
	c.stores[tr] = store
	c.mu.Unlock()
	if _, err := transport.Serve(tr, m, chargeRoute,
		transport.WithIdempotency(store), transport.WithLease(time.Second), transport.WithConcurrency(4)); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := tr.Conn().Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return tr
}

func (c *cluster) caller(t *testing.T, node int, opts ...transport.SendOption) (*natstransport.Transport, *mediator.Mediator) {
	t.Helper()
	tr := c.peerOn(t, node, "caller")
	m := mediator.New()
	opts = append([]transport.SendOption{transport.WithRetry(20, 20*time.Millisecond), transport.WithAttemptTimeout(500 * time.Millisecond)}, opts...)
	if err := transport.Register(m, &countingTransport{Transport: tr, t: t}, chargeRoute, opts...); err != nil {
		t.Fatalf("Route: %v", err)
	}
	// Interest in the responders' queue group reaches this node over the
	// cluster routes a little after they subscribed; a request too early
	// meets no responders. An empty body is refused before any handler
	// runs, so the probe has no effect.
	waitFor(t, 10*time.Second, "the responders to be reachable from the caller's node", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := tr.Request(ctx, &transport.Msg{Subject: chargeRoute.Subject()})
		return err == nil
	})
	return tr, m
}

// load sends n requests from workers goroutines, each with its own message
// id and a 10s deadline. It returns when all are done.
type load struct {
	done   atomic.Int64
	mu     sync.Mutex
	ids    []string
	failed []error
	wg     sync.WaitGroup
}

func startLoad(m *mediator.Mediator, n, workers int) *load {
	l := &load{}
	var next atomic.Int64
	for range workers {
		l.wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				id := fmt.Sprintf("msg-%d-%d", time.Now().UnixNano(), i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				ctx = catga.WithMetadata(ctx, catga.Metadata{MessageID: id})
				resp, err := mediator.Send[Charged](ctx, m, Charge{N: i})
				cancel()
				if err == nil && resp.N != i {
					err = fmt.Errorf("reply for %d carries %d", i, resp.N)
				}
				l.mu.Lock()
				l.ids = append(l.ids, id)
				if err != nil {
					l.failed = append(l.failed, fmt.Errorf("request %d (%s): %w", i, id, err))
				}
				l.mu.Unlock()
				l.done.Add(1)
				// Steady, paced load, so that faults land mid-stream
				// rather than after the work is done.
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	return l
}

func (l *load) waitDone(t *testing.T, n int64) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d requests done", n), func() bool { return l.done.Load() >= n })
}

// finish waits for the load and fails the test on any failed request.
func (l *load) finish(t *testing.T) []string {
	t.Helper()
	l.wg.Wait()
	for i, err := range l.failed {
		if i < 5 {
			t.Errorf("failed: %v", err)
		}
	}
	if len(l.failed) > 0 {
		t.Errorf("%d of %d requests failed, want 0", len(l.failed), len(l.ids))
	}
	return l.ids
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func serverIndex(t *testing.T, tr *natstransport.Transport) int {
	t.Helper()
	name := tr.Conn().ConnectedServerName()
	i, err := strconv.Atoi(name[len("catga-"):])
	if err != nil {
		t.Fatalf("connected to %q", name)
	}
	return i
}

const total = 400

// TestKillResponderNode: the node a responder is connected to dies under
// load. Its requests time out or reach the other responder; the responder
// reconnects to a live node. Nothing fails, nothing runs twice.
func TestKillResponderNode(t *testing.T) {
	c := startCluster(t)
	r1 := c.responder(t, 0, "r1", nil)
	c.responder(t, 1, "r2", nil)
	_, m := c.caller(t, 2)
	l := startLoad(m, total, 4)
	l.waitDone(t, total/4)
	if got := serverIndex(t, r1); got != 0 {
		t.Fatalf("r1 is on node %d, want 0", got)
	}
	c.Kill(0)
	waitFor(t, 10*time.Second, "r1 to reconnect to a live node", func() bool {
		return r1.Conn().IsConnected() && r1.Conn().ConnectedServerName() != "catga-0"
	})
	before := c.led.peerCount("r1")
	ids := l.finish(t)
	c.led.checkOnce(t, ids)
	if c.led.peerCount("r2") == 0 {
		t.Errorf("r2 handled nothing")
	}
	t.Logf("r1 handled %d (%d before the kill was observed), r2 %d", c.led.peerCount("r1"), before, c.led.peerCount("r2"))
}

// TestKillResponderMidRequest: a responder dies while handling a request
// (its effect never happens and it never releases its claim). The caller's
// retry, with the same message id, reaches the other peer once the dead
// peer's claim lease expires; the effect happens exactly once. The dying
// here is simulated in-process; TestKillResponderProcessMidRequest does it
// with a real process and SIGKILL.
func TestKillResponderMidRequest(t *testing.T) {
	c := startCluster(t)
	started := make(chan struct{})
	hang := make(chan struct{})
	var once sync.Once
	r1 := c.responder(t, 0, "r1", func(ctx context.Context) error {
		once.Do(func() { close(started) })
		<-hang // a crashed process does nothing more
		return errors.New("r1 is dead")
	})
	t.Cleanup(func() { close(hang) })
	_, m := c.caller(t, 2, transport.WithAttemptTimeout(1500*time.Millisecond))
	type result struct {
		resp Charged
		err  error
	}
	done := make(chan result, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		ctx = catga.WithMetadata(ctx, catga.Metadata{MessageID: "the-one"})
		resp, err := mediator.Send[Charged](ctx, m, Charge{N: 1})
		done <- result{resp, err}
	})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("r1 never received the request")
	}
	c.responder(t, 1, "r2", nil)
	c.crash(r1)
	res := <-done
	if res.err != nil {
		t.Fatalf("Send: %v", res.err)
	}
	if res.resp.Peer != "r2" {
		t.Errorf("answered by %q, want r2", res.resp.Peer)
	}
	c.led.checkOnce(t, []string{"the-one"})
}

// TestDrainPeerUnderLoad: a responder drains (Close) under steady load.
// The caller does not retry at all here, so zero failures shows that
// draining loses nothing: requests delivered to the draining peer are
// answered, new ones go to the other peer.
func TestDrainPeerUnderLoad(t *testing.T) {
	c := startCluster(t)
	r1 := c.responder(t, 0, "r1", nil)
	c.responder(t, 1, "r2", nil)
	_, m := c.caller(t, 2, transport.WithRetry(1, 0), transport.WithAttemptTimeout(5*time.Second))
	l := startLoad(m, total, 4)
	l.waitDone(t, total/3)
	if err := r1.Close(); err != nil {
		t.Fatalf("drain r1: %v", err)
	}
	after := c.led.peerCount("r1")
	ids := l.finish(t)
	c.led.checkOnce(t, ids)
	if got := c.led.peerCount("r1"); got != after {
		t.Errorf("r1 handled %d requests after it drained", got-after)
	}
	if after == 0 || c.led.peerCount("r2") == 0 {
		t.Errorf("r1 handled %d, r2 %d: want both to have taken load", after, c.led.peerCount("r2"))
	}
}

// TestAddPeerUnderLoad: a responder joining under load takes a share as
// soon as it subscribes.
func TestAddPeerUnderLoad(t *testing.T) {
	c := startCluster(t)
	c.responder(t, 0, "r1", nil)
	_, m := c.caller(t, 2)
	l := startLoad(m, total, 4)
	l.waitDone(t, total/4)
	c.responder(t, 1, "r2", nil)
	ids := l.finish(t)
	c.led.checkOnce(t, ids)
	if c.led.peerCount("r2") == 0 {
		t.Errorf("the new peer got no share of %d requests", total)
	}
	t.Logf("r1 %d, r2 %d", c.led.peerCount("r1"), c.led.peerCount("r2"))
}

// TestKillRequesterNode: the caller's own node dies under load; the caller
// reconnects and retries in-flight requests with the same ids.
func TestKillRequesterNode(t *testing.T) {
	c := startCluster(t)
	c.responder(t, 0, "r1", nil)
	c.responder(t, 1, "r2", nil)
	caller, m := c.caller(t, 2)
	l := startLoad(m, total, 4)
	l.waitDone(t, total/4)
	if got := serverIndex(t, caller); got != 2 {
		t.Fatalf("caller is on node %d, want 2", got)
	}
	c.Kill(2)
	ids := l.finish(t)
	c.led.checkOnce(t, ids)
	if !caller.Conn().IsConnected() || caller.Conn().ConnectedServerName() == "catga-2" {
		t.Errorf("caller did not move to a live node (connected=%v, server=%q)", caller.Conn().IsConnected(), caller.Conn().ConnectedServerName())
	}
}

// countingTransport logs how many attempts failed, to show that a fault
// test did exercise the retry path.
type countingTransport struct {
	transport.Transport
	t      *testing.T
	failed atomic.Int64
	once   sync.Once
}

func (c *countingTransport) Request(ctx context.Context, m *transport.Msg) (*transport.Msg, error) {
	c.once.Do(func() { c.t.Cleanup(func() { c.t.Logf("caller: %d failed attempts (retried)", c.failed.Load()) }) })
	r, err := c.Transport.Request(ctx, m)
	if err != nil {
		c.failed.Add(1)
	}
	return r, err
}
