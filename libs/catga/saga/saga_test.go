package saga_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// order is the saga data of the tests.
type order struct {
	ID      string
	Reserve string // set by step 0
	Charged bool   // set by step 1
}

// ledger is a participant: it records effects per idempotency key through a
// fence, so a test can check each was applied once.
type ledger struct {
	fence   saga.Fence
	mu      sync.Mutex
	applied map[string]int // key -> times applied (actions +1, compensations recorded separately)
	undone  map[string]int
}

func newLedger() *ledger {
	return &ledger{fence: saga.NewMemoryFence(), applied: map[string]int{}, undone: map[string]int{}}
}

func (l *ledger) do(ctx context.Context) error {
	h := saga.GuardAction(l.fence, func(ctx context.Context, _ struct{}) (struct{}, error) {
		md, _ := catga.MetadataFrom(ctx)
		l.mu.Lock()
		l.applied[md.Key()]++
		l.mu.Unlock()
		return struct{}{}, nil
	})
	_, err := h(ctx, struct{}{})
	return err
}

func (l *ledger) undo(ctx context.Context) error {
	h := saga.GuardCompensation(l.fence, func(ctx context.Context, _ struct{}) (struct{}, error) {
		md, _ := catga.MetadataFrom(ctx)
		l.mu.Lock()
		l.undone[md.Key()]++
		l.mu.Unlock()
		return struct{}{}, nil
	})
	_, err := h(ctx, struct{}{})
	return err
}

func (l *ledger) counts() (applied, undone int, twice bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.applied {
		applied += n
		twice = twice || n > 1
	}
	for _, n := range l.undone {
		undone += n
		twice = twice || n > 1
	}
	return applied, undone, twice
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newEngine(t *testing.T, s sagastore.Store, opts ...saga.Option) *saga.Engine {
	e := saga.New(s, opts...)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

// ownerAndStandby starts engine a running def and engine b, which runs the
// plain three-step saga and may take def's sagas over, both with lease ttl;
// a checks for due sagas every aInterval, b every 20ms.
func ownerAndStandby(t *testing.T, store sagastore.Store, l *ledger, def saga.Definition[order], ttl, aInterval time.Duration) (*saga.Saga[order], *saga.Engine) {
	t.Helper()
	a := newEngine(t, store, saga.WithOwner("a"), saga.WithLeaseTTL(ttl), saga.WithRecoveryInterval(aInterval))
	sa, err := saga.Register(a, def)
	if err != nil {
		t.Fatal(err)
	}
	b := newEngine(t, store, saga.WithOwner("b"), saga.WithLeaseTTL(ttl), saga.WithRecoveryInterval(20*time.Millisecond))
	if _, err := saga.Register(b, threeSteps(l, func(int) error { return nil })); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*saga.Engine{a, b} {
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
	}
	return sa, a
}

func threeSteps(l *ledger, fail func(step int) error) saga.Definition[order] {
	step := func(i int) saga.Step[order] {
		return saga.Step[order]{
			Name: fmt.Sprintf("s%d", i),
			Action: func(ctx context.Context, o *order) error {
				if err := fail(i); err != nil {
					return err
				}
				if i == 0 {
					o.Reserve = "r-" + o.ID
				}
				if i == 1 {
					o.Charged = true
				}
				return l.do(ctx)
			},
			Compensate: func(ctx context.Context, o *order) error { return l.undo(ctx) },
			Retry:      saga.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond},
		}
	}
	return saga.Definition[order]{Name: "order", Steps: []saga.Step[order]{step(0), step(1), step(2)}}
}

func TestOutcomes(t *testing.T) {
	flaky := errors.New("flaky")
	cases := []struct {
		name           string
		fail           func(calls map[int]int, step int) error
		want           sagastore.State
		applied, undid int
		stepStatus     []sagastore.StepStatus
		codes          []string // each step's rejection code; nil: none
	}{
		{
			name: "completes", fail: func(map[int]int, int) error { return nil },
			want: sagastore.StateCompleted, applied: 3,
			stepStatus: []sagastore.StepStatus{sagastore.StepSucceeded, sagastore.StepSucceeded, sagastore.StepSucceeded},
		},
		{
			name: "retryable error is retried",
			fail: func(calls map[int]int, step int) error {
				if step == 1 && calls[1] < 3 {
					return flaky
				}
				return nil
			},
			want: sagastore.StateCompleted, applied: 3,
			stepStatus: []sagastore.StepStatus{sagastore.StepSucceeded, sagastore.StepSucceeded, sagastore.StepSucceeded},
		},
		{
			name: "rejection compensates every step in reverse, the rejected one too",
			fail: func(_ map[int]int, step int) error {
				if step == 2 {
					return catga.Reject("out_of_stock", "no")
				}
				return nil
			},
			want: sagastore.StateCompensated, applied: 2, undid: 2,
			stepStatus: []sagastore.StepStatus{sagastore.StepCompensated, sagastore.StepCompensated, sagastore.StepCompensated},
			codes:      []string{"", "", "out_of_stock"},
		},
		{
			name: "retries exhausted compensates the ambiguous step too",
			fail: func(_ map[int]int, step int) error {
				if step == 1 {
					return flaky
				}
				return nil
			},
			// Step 1 never applied: its compensation finds nothing to undo.
			want: sagastore.StateCompensated, applied: 1, undid: 1,
			stepStatus: []sagastore.StepStatus{sagastore.StepCompensated, sagastore.StepCompensated, sagastore.StepPending},
		},
		{
			name: "permanent error is not retried",
			fail: func(calls map[int]int, step int) error {
				if step == 0 {
					if calls[0] > 1 {
						panic("retried a permanent error")
					}
					return catga.Permanent(errors.New("bad input"))
				}
				return nil
			},
			want: sagastore.StateCompensated, applied: 0, undid: 0,
			stepStatus: []sagastore.StepStatus{sagastore.StepCompensated, sagastore.StepPending, sagastore.StepPending},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := ctxT(t, 10*time.Second)
			l := newLedger()
			var mu sync.Mutex
			calls := map[int]int{}
			e := newEngine(t, checkedMemory(t))
			s, err := saga.Register(e, threeSteps(l, func(step int) error {
				mu.Lock()
				calls[step]++
				defer mu.Unlock()
				return c.fail(calls, step)
			}))
			if err != nil {
				t.Fatal(err)
			}
			rec, err := s.Run(ctx, "", order{ID: "o1"})
			if err != nil {
				t.Fatal(err)
			}
			if rec.State != c.want {
				t.Fatalf("state %s, want %s (error %q)", rec.State, c.want, rec.Error)
			}
			applied, undid, twice := l.counts()
			if applied != c.applied || undid != c.undid || twice {
				t.Fatalf("applied %d undone %d (twice %v), want %d and %d", applied, undid, twice, c.applied, c.undid)
			}
			for i, st := range rec.Steps {
				if st.Status != c.stepStatus[i] {
					t.Fatalf("step %d status %q, want %q (steps %+v)", i, st.Status, c.stepStatus[i], rec.Steps)
				}
			}
			stored, err := e.Get(ctx, rec.ID)
			if err != nil || stored.State != c.want || len(stored.History) < 3 {
				t.Fatalf("stored %+v, %v", stored, err)
			}
			codes := make([]string, len(stored.Steps))
			copy(codes, c.codes)
			for i, st := range stored.Steps {
				if st.Code != codes[i] {
					t.Fatalf("stored step %d rejection code %q, want %q", i, st.Code, codes[i])
				}
			}
		})
	}
}

func TestDataFlowsBetweenSteps(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	e := newEngine(t, checkedMemory(t))
	var seen string
	s, err := saga.Register(e, saga.Definition[order]{Name: "flow", Steps: []saga.Step[order]{
		{Name: "a", Action: func(_ context.Context, o *order) error { o.Reserve = "R1"; return nil }},
		{Name: "b", Action: func(_ context.Context, o *order) error { seen = o.Reserve; return nil }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Run(ctx, "flow-1", order{ID: "o"})
	if err != nil || rec.State != sagastore.StateCompleted || seen != "R1" || string(rec.Data) != `{"ID":"o","Reserve":"R1","Charged":false}` {
		t.Fatalf("rec %+v data %s seen %q err %v", rec.State, rec.Data, seen, err)
	}
	if _, err := s.Run(ctx, "flow-1", order{}); !errors.Is(err, sagastore.ErrExists) {
		t.Fatalf("second start of the same id: %v", err)
	}
}

func TestDeadlineCompensates(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	e := newEngine(t, checkedMemory(t))
	l := newLedger()
	def := threeSteps(l, func(step int) error {
		if step == 1 {
			time.Sleep(250 * time.Millisecond)
			return errors.New("slow and failing")
		}
		return nil
	})
	def.Deadline = 200 * time.Millisecond
	def.Steps[1].Retry = saga.RetryPolicy{MaxAttempts: 100, InitialBackoff: time.Millisecond}
	s, err := saga.Register(e, def)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Run(ctx, "", order{ID: "d"})
	if err != nil || rec.State != sagastore.StateCompensated {
		t.Fatalf("%s %q %v", rec.State, rec.Error, err)
	}
	if rec.Steps[0].Status != sagastore.StepCompensated || rec.Steps[1].Status != sagastore.StepCompensated {
		t.Fatalf("steps %+v", rec.Steps)
	}
	if want := saga.ErrDeadline.Error(); !contains(rec.Error, want) {
		t.Fatalf("error %q does not mention %q", rec.Error, want)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestStuckThenOperatorRetry(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	e := newEngine(t, checkedMemory(t))
	l := newLedger()
	var broken atomic.Bool
	broken.Store(true)
	def := threeSteps(l, func(step int) error {
		if step == 2 {
			return catga.Reject("declined", "no")
		}
		return nil
	})
	undo0 := def.Steps[0].Compensate
	def.Steps[0].Compensate = func(ctx context.Context, o *order) error {
		if broken.Load() {
			return errors.New("compensation down")
		}
		return undo0(ctx, o)
	}
	def.Steps[0].CompensationRetry = saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}
	s, err := saga.Register(e, def)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Run(ctx, "", order{ID: "s"})
	if err != nil || rec.State != sagastore.StateStuck {
		t.Fatalf("state %s, err %v; want stuck", rec.State, err)
	}
	stuck, err := e.List(ctx, sagastore.StateStuck, 10)
	if err != nil || len(stuck) != 1 || stuck[0].ID != rec.ID {
		t.Fatalf("List(stuck) = %d records, %v", len(stuck), err)
	}
	if err := e.ForceCompensate(ctx, "missing"); !errors.Is(err, sagastore.ErrNotFound) {
		t.Fatalf("ForceCompensate(missing) = %v", err)
	}
	broken.Store(false)
	if err := e.Retry(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	final, err := e.Await(ctx, rec.ID)
	if err != nil || final.State != sagastore.StateCompensated || final.Epoch != 2 {
		t.Fatalf("after retry: %s epoch %d, %v", final.State, final.Epoch, err)
	}
	if err := e.Retry(ctx, rec.ID); !errors.Is(err, saga.ErrInvalidState) {
		t.Fatalf("Retry of a compensated saga = %v, want ErrInvalidState", err)
	}
	if _, undid, twice := l.counts(); undid != 2 || twice {
		t.Fatalf("undone %d twice %v", undid, twice)
	}
}

// blockingDef returns a definition whose step 1 waits for release before
// calling the ledger, so tests can act while a peer is mid-step.
func blockingDef(l *ledger, entered chan<- struct{}, release <-chan struct{}) saga.Definition[order] {
	def := threeSteps(l, func(int) error { return nil })
	do1 := def.Steps[1].Action
	def.Steps[1].Action = func(ctx context.Context, o *order) error {
		if entered != nil {
			entered <- struct{}{}
		}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return do1(ctx, o)
	}
	return def
}

func TestForceCompensateRunningSaga(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	store, l := checkedMemory(t), newLedger()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	a := newEngine(t, store, saga.WithOwner("a"))
	def := blockingDef(l, entered, release)
	oldStep1 := def.Steps[1].Action
	replied := make(chan error, 1) // what the participant answered the old owner's step 1
	def.Steps[1].Action = func(ctx context.Context, o *order) error {
		err := oldStep1(ctx, o)
		replied <- err
		return err
	}
	sa, err := saga.Register(a, def)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sa.Start(ctx, "", order{ID: "f"})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	op := newEngine(t, store, saga.WithOwner("operator"))
	if _, err := saga.Register(op, threeSteps(l, func(int) error { return nil })); err != nil {
		t.Fatal(err)
	}
	if err := op.ForceCompensate(ctx, id); err != nil {
		t.Fatal(err)
	}
	final, err := op.Await(ctx, id)
	if err != nil || final.State != sagastore.StateCompensated {
		t.Fatalf("%s %v", final.State, err)
	}
	close(release) // the old owner's step 1 now reaches the participant: fenced
	var rej *catga.RejectionError
	select {
	case err := <-replied:
		if !errors.As(err, &rej) || (rej.Code != saga.CodeStaleEpoch && rej.Code != saga.CodeCompensated) {
			t.Fatalf("the old owner's late step 1 got %v, want a stale-epoch or compensated refusal", err)
		}
	case <-ctx.Done():
		t.Fatal("the old owner's step 1 never reached the participant")
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	applied, undid, twice := l.counts()
	if applied != 1 || undid != 1 || twice {
		t.Fatalf("applied %d undone %d twice %v; want step 0 applied and undone, step 1 refused", applied, undid, twice)
	}
	if again, _ := store.Get(ctx, id); again.State != sagastore.StateCompensated || again.Owner != "operator" {
		t.Fatalf("old owner changed the record: %s owner %s", again.State, again.Owner)
	}
}

// TestStaleOwnerRejected: owner A stalls inside step 1 past its lease; B
// claims the saga (epoch 2) and finishes it. When A wakes up, its step call
// carries epoch 1 and the participant rejects it, and its write is fenced.
func TestStaleOwnerRejected(t *testing.T) {
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) { staleOwnerRejected(t, st.open(t)) })
	}
}

func staleOwnerRejected(t *testing.T, store sagastore.Store) {
	ctx := ctxT(t, 10*time.Second)
	l := newLedger()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	a := newEngine(t, store, saga.WithOwner("a"), saga.WithLeaseTTL(300*time.Millisecond))
	sa, err := saga.Register(a, blockingDef(l, entered, release))
	if err != nil {
		t.Fatal(err)
	}
	// A never starts its recovery loop, so its lease is not renewed: it
	// behaves like a paused process.
	done := make(chan error, 1)
	id := uuid.NewString()
	var aRec saga.Record
	go func() {
		var err error
		aRec, err = sa.Run(ctx, id, order{ID: "x"})
		done <- err
	}()
	<-entered
	b := newEngine(t, store, saga.WithOwner("b"), saga.WithLeaseTTL(300*time.Millisecond), saga.WithRecoveryInterval(20*time.Millisecond))
	if _, err := saga.Register(b, threeSteps(l, func(int) error { return nil })); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	final, err := b.Await(ctx, id)
	if err != nil || final.State != sagastore.StateCompleted || final.Epoch != 2 || final.Owner != "b" {
		t.Fatalf("B: %s epoch %d owner %s, %v", final.State, final.Epoch, final.Owner, err)
	}
	close(release)
	err = <-done
	if !errors.Is(err, saga.ErrLostOwnership) {
		t.Fatalf("A's run ended with %v, want ErrLostOwnership", err)
	}
	// A's refused write is not adopted: its view stays the last state the
	// store confirmed to it.
	if aRec.Steps[1].Status != sagastore.StepStarted || aRec.Epoch != 1 {
		t.Fatalf("A's step 1: %+v at epoch %d, want the last confirmed state", aRec.Steps[1], aRec.Epoch)
	}
	applied, _, twice := l.counts()
	if applied != 3 || twice {
		t.Fatalf("applied %d twice %v", applied, twice)
	}
	if got, _ := store.Get(ctx, id); got.State != sagastore.StateCompleted {
		t.Fatalf("stale owner overwrote the record: %s", got.State)
	}
}

// TestCloseReleasesLeases: a peer shutting down mid-step releases the saga
// and another peer finishes it well before the lease would have expired.
func TestCloseReleasesLeases(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	store, l := checkedMemory(t), newLedger()
	entered := make(chan struct{}, 1)
	a := newEngine(t, store, saga.WithOwner("a"), saga.WithLeaseTTL(time.Hour))
	sa, err := saga.Register(a, blockingDef(l, entered, make(chan struct{})))
	if err != nil {
		t.Fatal(err)
	}
	id, err := sa.Start(ctx, "", order{ID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rec, _ := store.Get(ctx, id)
	if rec.LeaseUntil.After(time.Now()) {
		t.Fatalf("lease not released: until %v", rec.LeaseUntil)
	}
	b := newEngine(t, store, saga.WithOwner("b"), saga.WithLeaseTTL(time.Hour))
	if _, err := saga.Register(b, threeSteps(l, func(int) error { return nil })); err != nil {
		t.Fatal(err)
	}
	b.RecoverNow(ctx)
	final, err := b.Await(ctx, id)
	if err != nil || final.State != sagastore.StateCompleted || final.Owner != "b" {
		t.Fatalf("%s owner %s %v", final.State, final.Owner, err)
	}
	if applied, _, twice := l.counts(); applied != 3 || twice {
		t.Fatalf("applied %d twice %v", applied, twice)
	}
}

// TestManyConcurrentSagasWithRandomFailures: sagas over two peers with
// random participant failures all end Completed or Compensated, none lost,
// and every effect is applied at most once, on each store.
func TestManyConcurrentSagasWithRandomFailures(t *testing.T) {
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) { manyConcurrentSagas(t, st.open(t)) })
	}
}

func manyConcurrentSagas(t *testing.T, store sagastore.Store) {
	ctx := ctxT(t, 30*time.Second)
	l := newLedger()
	fail := func(step int) error {
		switch r := rand.IntN(20); {
		case r == 0:
			return catga.Reject("declined", "random rejection at step %d", step)
		case r < 3:
			return errors.New("random transient failure")
		}
		return nil
	}
	var sagas []*saga.Saga[order]
	for _, name := range []string{"p1", "p2"} {
		e := newEngine(t, store, saga.WithOwner(name))
		s, err := saga.Register(e, threeSteps(l, fail))
		if err != nil {
			t.Fatal(err)
		}
		sagas = append(sagas, s)
	}
	const n = 200
	var wg sync.WaitGroup
	results := make(chan saga.Record, n)
	for i := range n {
		wg.Go(func() {
			rec, err := sagas[i%2].Run(ctx, "", order{ID: fmt.Sprint(i)})
			if err != nil {
				t.Error(err)
			}
			results <- rec
		})
	}
	wg.Wait()
	close(results)
	counts := map[sagastore.State]int{}
	for rec := range results {
		counts[rec.State]++
	}
	if counts[sagastore.StateCompleted]+counts[sagastore.StateCompensated] != n {
		t.Fatalf("outcomes %v, want all %d completed or compensated", counts, n)
	}
	if _, _, twice := l.counts(); twice {
		t.Fatal("an effect was applied twice")
	}
	t.Logf("outcomes: %v", counts)
}

func TestDefinitionValidate(t *testing.T) {
	cases := []struct {
		name string
		def  saga.Definition[order]
		ok   bool
	}{
		{"valid", saga.Definition[order]{Name: "x", Steps: []saga.Step[order]{{Action: func(context.Context, *order) error { return nil }}}}, true},
		{"no name", saga.Definition[order]{Steps: []saga.Step[order]{{Action: func(context.Context, *order) error { return nil }}}}, false},
		{"no steps", saga.Definition[order]{Name: "x"}, false},
		{"no action", saga.Definition[order]{Name: "x", Steps: []saga.Step[order]{{Name: "a"}}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.def.Validate()
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, saga.ErrInvalidDefinition)) {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

// TestLeaseRenewedDuringLongStep: a step that takes several lease TTLs does
// not lose its saga to another peer while its owner's recovery loop renews
// the lease.
func TestLeaseRenewedDuringLongStep(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	store, l := checkedMemory(t), newLedger()
	// Renewal starts at half the TTL and runs every 50ms: a margin of
	// 450ms for a loaded machine.
	const ttl = time.Second
	def := threeSteps(l, func(step int) error {
		if step == 1 {
			time.Sleep(2*ttl + ttl/4)
		}
		return nil
	})
	sa, a := ownerAndStandby(t, store, l, def, ttl, 50*time.Millisecond)
	id, err := sa.Start(ctx, "", order{ID: "long"})
	if err != nil {
		t.Fatal(err)
	}
	final, err := a.Await(ctx, id)
	if err != nil || final.State != sagastore.StateCompleted || final.Owner != "a" || final.Epoch != 1 {
		t.Fatalf("%s owner %s epoch %d, %v; want completed by a at epoch 1", final.State, final.Owner, final.Epoch, err)
	}
	if applied, _, twice := l.counts(); applied != 3 || twice {
		t.Fatalf("applied %d twice %v", applied, twice)
	}
}

func TestRetryPolicy(t *testing.T) {
	errFatal := errors.New("card blocked")
	cases := []struct {
		name      string
		step      saga.Step[order]
		wantCalls int
	}{
		{
			name: "non-retryable error stops retries",
			step: saga.Step[order]{Retry: saga.RetryPolicy{MaxAttempts: 5, InitialBackoff: time.Millisecond,
				NonRetryable: func(err error) bool { return errors.Is(err, errFatal) }}},
			wantCalls: 1,
		},
		{
			name:      "max attempts bound retries",
			step:      saga.Step[order]{Retry: saga.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Millisecond}},
			wantCalls: 4,
		},
		{
			name: "per-attempt timeout is retried",
			step: saga.Step[order]{Timeout: 20 * time.Millisecond,
				Retry: saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}},
			wantCalls: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := ctxT(t, 10*time.Second)
			e := newEngine(t, checkedMemory(t))
			var calls atomic.Int32
			step := c.step
			step.Name = "only"
			step.Action = func(ctx context.Context, _ *order) error {
				calls.Add(1)
				if step.Timeout > 0 {
					<-ctx.Done() // a participant that never answers
					return ctx.Err()
				}
				return errFatal
			}
			s, err := saga.Register(e, saga.Definition[order]{Name: "retry", Steps: []saga.Step[order]{step}})
			if err != nil {
				t.Fatal(err)
			}
			rec, err := s.Run(ctx, "", order{})
			if err != nil || rec.State != sagastore.StateCompensated {
				t.Fatalf("%s %v", rec.State, err)
			}
			if got := int(calls.Load()); got != c.wantCalls || rec.Steps[0].Attempts != c.wantCalls {
				t.Fatalf("%d calls, %d attempts recorded, want %d", got, rec.Steps[0].Attempts, c.wantCalls)
			}
		})
	}
}

// TestRecordNotFittingDefinition: a stored record whose shape does not fit
// the registered definition is never executed (no index out of range): a
// resumed one goes Stuck for an operator, operator actions refuse it.
func TestRecordNotFittingDefinition(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	store := checkedMemory(t)
	e := newEngine(t, store)
	if _, err := saga.Register(e, threeSteps(newLedger(), func(int) error { return nil })); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	for _, rec := range []sagastore.Record{
		{ID: "bad-step", Name: "order", State: sagastore.StateRunning, Step: 7, Steps: make([]sagastore.StepState, 3), LeaseUntil: past},
		{ID: "bad-len", Name: "order", State: sagastore.StateRunning, Steps: make([]sagastore.StepState, 1), LeaseUntil: past},
	} {
		if _, err := store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	e.RecoverNow(ctx)
	got, err := e.Await(ctx, "bad-step")
	if err != nil || got.State != sagastore.StateStuck || !contains(got.Error, saga.ErrUnknownSaga.Error()) {
		t.Fatalf("bad-step: %s %q %v", got.State, got.Error, err)
	}
	if err := e.ForceCompensate(ctx, "bad-len"); !errors.Is(err, saga.ErrUnknownSaga) {
		t.Fatalf("ForceCompensate(bad-len) = %v, want ErrUnknownSaga", err)
	}
	if got, _ := store.Get(ctx, "bad-len"); got.State != sagastore.StateRunning || got.Epoch != 0 {
		t.Fatalf("bad-len was touched: %s epoch %d", got.State, got.Epoch)
	}
}

// TestEveryHookRuns: hooks from several WithHook options all observe the
// engine (the peer chassis installs one for metrics; a test may add its own).
func TestEveryHookRuns(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	hook := func(name string) saga.Hook {
		return func(_ context.Context, p saga.Point, _ *saga.Record) {
			if p == saga.AfterPersist {
				mu.Lock()
				seen[name]++
				mu.Unlock()
			}
		}
	}
	e := newEngine(t, checkedMemory(t), saga.WithHook(hook("metrics")), saga.WithHook(hook("test")))
	s, err := saga.Register(e, threeSteps(newLedger(), func(int) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctxT(t, 10*time.Second), "", order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["metrics"] == 0 || seen["metrics"] != seen["test"] {
		t.Fatalf("hooks saw %v persisted transitions, want both the same, more than 0", seen)
	}
}
