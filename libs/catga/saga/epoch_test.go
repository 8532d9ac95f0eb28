package saga_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// TestOwnersNeverShareAnEpoch: four engines race to take over one expired
// saga, then race to force its compensation. Every acquisition writes an
// epoch of its own (one owner per epoch, in the record and as seen by the
// participant), and the action's owner, superseded while its call ran, has
// its Commit refused by the fence once the new owner reached it.
func TestOwnersNeverShareAnEpoch(t *testing.T) {
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) { ownersNeverShareAnEpoch(t, st.open(t)) })
	}
}

// epochLog is what the participant saw: the owners that sent each epoch,
// the newest epoch admitted so far, and the answers to superseded Commits.
type epochLog struct {
	mu      sync.Mutex
	senders map[uint64]map[string]bool
	newest  atomic.Uint64
	commits []error // Commits sent after a newer epoch reached the fence
	fence   *saga.MemoryFence
}

func (l *epochLog) admit(ctx context.Context, owner string, compensation bool) (saga.Op, error) {
	op, ok := saga.OpFrom(ctx)
	if !ok {
		return op, catga.Permanent(errors.New("no saga metadata"))
	}
	op.Compensation, op.Token = compensation, owner
	l.mu.Lock()
	if l.senders[op.Epoch] == nil {
		l.senders[op.Epoch] = map[string]bool{}
	}
	l.senders[op.Epoch][owner] = true
	l.mu.Unlock()
	_, err := l.fence.Admit(ctx, op)
	for cur := l.newest.Load(); op.Epoch > cur; cur = l.newest.Load() {
		if l.newest.CompareAndSwap(cur, op.Epoch) {
			break
		}
	}
	return op, err
}

func (l *epochLog) definition(owner string) saga.Definition[struct{}] {
	return saga.Definition[struct{}]{Name: "epochs", Steps: []saga.Step[struct{}]{{
		Name: "hold",
		// The action holds its reservation until its owner is fenced out,
		// then commits once a newer owner has reached the fence.
		Action: func(ctx context.Context, _ *struct{}) error {
			op, err := l.admit(ctx, owner, false)
			if err != nil {
				return err
			}
			<-ctx.Done()
			for deadline := time.Now().Add(10 * time.Second); l.newest.Load() <= op.Epoch && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if l.newest.Load() > op.Epoch {
				err := l.fence.Commit(context.WithoutCancel(ctx), op)
				l.mu.Lock()
				l.commits = append(l.commits, err)
				l.mu.Unlock()
			}
			return ctx.Err()
		},
		Compensate: func(ctx context.Context, _ *struct{}) error {
			op, err := l.admit(ctx, owner, true)
			if err != nil {
				return err
			}
			return l.fence.Commit(ctx, op)
		},
		Retry:             saga.RetryPolicy{MaxAttempts: 1},
		CompensationRetry: saga.RetryPolicy{MaxAttempts: 200, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
	}}}
}

func ownersNeverShareAnEpoch(t *testing.T, store sagastore.Store) {
	ctx := ctxT(t, 30*time.Second)
	pl := &epochLog{senders: map[uint64]map[string]bool{}, fence: saga.NewMemoryFence()}
	past := time.Now().Add(-time.Minute).UTC()
	id := "epochs-" + uuid.NewString()[:8]
	if _, err := store.Create(ctx, sagastore.Record{
		ID: id, Name: "epochs", State: sagastore.StateRunning,
		Steps: []sagastore.StepState{{Status: sagastore.StepStarted, KeyEpoch: 1}}, Data: []byte(`{}`),
		Owner: "gone", Epoch: 1, LeaseUntil: past, CreatedAt: past, UpdatedAt: past,
		History: []sagastore.Event{{At: past, What: sagastore.EventCreated, Epoch: 1, Owner: "gone"}},
	}); err != nil {
		t.Fatal(err)
	}
	// A TTL long enough that, on a loaded machine too, the taker's lease is
	// renewed in time: the operators must find it Running.
	engines := make([]*saga.Engine, 4)
	for i := range engines {
		owner := fmt.Sprintf("p%d", i)
		engines[i] = newEngine(t, store, saga.WithOwner(owner), saga.WithLeaseTTL(3*time.Second),
			saga.WithRecoveryInterval(50*time.Millisecond))
		if _, err := saga.Register(engines[i], pl.definition(owner)); err != nil {
			t.Fatal(err)
		}
	}
	race := func(fn func(e *saga.Engine) error) []error {
		errs := make([]error, len(engines))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, e := range engines {
			wg.Go(func() { <-start; errs[i] = fn(e) })
		}
		close(start)
		wg.Wait()
		return errs
	}
	// Concurrent takeovers: four recovery passes, then four loops.
	race(func(e *saga.Engine) error { e.RecoverNow(ctx); return nil })
	race(func(e *saga.Engine) error { return e.Start() })
	waitFor(t, ctx, "the action to be admitted by a taker", func() bool { return pl.newest.Load() >= 2 })
	// Concurrent operators: exactly one forced compensation wins.
	won := 0
	for _, err := range race(func(e *saga.Engine) error { return e.ForceCompensate(ctx, id) }) {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, saga.ErrInvalidState):
			t.Fatalf("ForceCompensate: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d forced compensations succeeded, want exactly 1", won)
	}
	final, err := engines[0].Await(ctx, id)
	if err != nil || final.State != sagastore.StateCompensated {
		t.Fatalf("final %s, %v; want compensated", final.State, err)
	}

	owners := map[uint64]string{}
	var last uint64
	for _, ev := range final.History {
		switch ev.What {
		case sagastore.EventCreated, sagastore.EventClaimed, sagastore.EventForcedCompensation, sagastore.EventRetried:
		default:
			continue
		}
		if ev.Epoch <= last {
			t.Fatalf("acquisition %s by %s at epoch %d after epoch %d: %+v", ev.What, ev.Owner, ev.Epoch, last, final.History)
		}
		last, owners[ev.Epoch] = ev.Epoch, ev.Owner
	}
	if last != final.Epoch || last < 3 {
		t.Fatalf("last acquisition at epoch %d, record at %d; want a takeover and a forced compensation", last, final.Epoch)
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for epoch, senders := range pl.senders {
		if len(senders) != 1 || !senders[owners[epoch]] {
			t.Fatalf("epoch %d sent by %v, acquired by %q", epoch, senders, owners[epoch])
		}
	}
	if len(pl.commits) == 0 {
		t.Fatal("no superseded owner committed: the scenario did not happen")
	}
	for _, err := range pl.commits {
		var rej *catga.RejectionError
		if !errors.As(err, &rej) || rej.Code != saga.CodeStaleEpoch {
			t.Fatalf("a superseded owner's Commit answered %v, want a %s refusal", err, saga.CodeStaleEpoch)
		}
	}
}

// waitFor polls cond until it holds, failing t when ctx ends first.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestForceCompensateOnOwnerCancelsItsCall: an operator forcing compensation
// on the very peer that runs the saga fences that run out; its hung call is
// cancelled at once (the superseded run is no longer renewed, so no renewal
// conflict would ever cancel it), not left holding the participant.
func TestForceCompensateOnOwnerCancelsItsCall(t *testing.T) {
	ctx := ctxT(t, 20*time.Second)
	entered, cancelled := make(chan struct{}), make(chan struct{})
	var once sync.Once
	def := saga.Definition[struct{}]{Name: "hung", Steps: []saga.Step[struct{}]{{
		Name: "hang",
		Action: func(ctx context.Context, _ *struct{}) error {
			once.Do(func() { close(entered) })
			<-ctx.Done()
			close(cancelled)
			return ctx.Err()
		},
		Compensate: func(context.Context, *struct{}) error { return nil },
		Retry:      saga.RetryPolicy{MaxAttempts: 1},
	}}}
	e := newEngine(t, checkedMemory(t), saga.WithOwner("a"), saga.WithLeaseTTL(time.Minute),
		saga.WithStepTimeout(time.Minute))
	s, err := saga.Register(e, def)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Start(ctx, "", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := e.ForceCompensate(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the superseded run's call still runs 5s after the forced compensation")
	}
	if final, err := e.Await(ctx, id); err != nil || final.State != sagastore.StateCompensated {
		t.Fatalf("final %s, %v; want compensated", final.State, err)
	}
}
