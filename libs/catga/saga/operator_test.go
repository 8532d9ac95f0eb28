package saga_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/storetest"
)

// TestOperatorRetryRacesOldOwner: a saga goes Stuck on peer A; an operator
// retries it on peer B while a removal of the Stuck saga's due entry is still
// pending — queued on A, or read-then-removed by peer C's recovery pass. The
// removal must not take out B's entry: while B compensates, the saga must
// stay recoverable (if B died there, someone must finish it).
func TestOperatorRetryRacesOldOwner(t *testing.T) {
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				remove func(t *testing.T, ctx context.Context, env *retryRace)
			}{
				{"old owner's queued removal", func(t *testing.T, ctx context.Context, env *retryRace) {
					env.retry(t, ctx)
					env.a.RecoverNow(ctx) // A drops the entries of the sagas it finished
				}},
				{"recovery reads stuck, then removes", func(t *testing.T, ctx context.Context, env *retryRace) {
					c := &faulty{Store: env.store}
					var once sync.Once
					c.afterGet.Store(func(rec sagastore.Record) {
						if rec.ID == env.id && rec.State == sagastore.StateStuck {
							once.Do(func() { env.retry(t, ctx) }) // between C's read and C's removal
						}
					})
					pc := newEngine(t, c, saga.WithOwner("c"))
					if _, err := saga.Register(pc, threeSteps(newLedger(), func(int) error { return nil })); err != nil {
						t.Fatal(err)
					}
					waitDue(t, ctx, env.store, env.id)
					pc.RecoverNow(ctx)
					if !env.retried {
						t.Fatal("C's recovery never read the stuck saga: the race did not happen")
					}
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := ctxT(t, 20*time.Second)
					env := stuckSaga(t, ctx, st.open(t))
					tc.remove(t, ctx, env)
					if msg := storetest.Unrecoverable(ctx, env.store); msg != "" {
						t.Fatalf("while the operator's retry compensates: %s", msg)
					}
					close(env.release)
					final, err := env.b.Await(ctx, env.id)
					if err != nil || final.State != sagastore.StateCompensated || final.Owner != "b" {
						t.Fatalf("after retry: %s owner %s, %v", final.State, final.Owner, err)
					}
				})
			}
		})
	}
}

// retryRace is a saga left Stuck by peer A, and peer B, an operator's, whose
// compensation of step 0 blocks until release is closed.
type retryRace struct {
	store   sagastore.Store
	a, b    *saga.Engine
	id      string
	entered chan struct{}
	release chan struct{}
	retried bool
}

func (env *retryRace) retry(t *testing.T, ctx context.Context) {
	if err := env.b.Retry(ctx, env.id); err != nil {
		t.Fatal(err)
	}
	env.retried = true
	select {
	case <-env.entered:
	case <-ctx.Done():
		t.Fatal("B's compensation never started")
	}
}

func stuckSaga(t *testing.T, ctx context.Context, store sagastore.Store) *retryRace {
	env := &retryRace{store: store, entered: make(chan struct{}, 1), release: make(chan struct{})}
	l := newLedger()
	reject2 := func(step int) error {
		if step == 2 {
			return errDeclined
		}
		return nil
	}
	def := threeSteps(l, reject2)
	def.Steps[0].Compensate = func(context.Context, *order) error { return errors.New("compensation down") }
	def.Steps[0].CompensationRetry = saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}
	env.a = newEngine(t, store, saga.WithOwner("a"), saga.WithLeaseTTL(200*time.Millisecond))
	sa, err := saga.Register(env.a, def)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := sa.Run(ctx, "", order{ID: "stuck"})
	if err != nil || rec.State != sagastore.StateStuck {
		t.Fatalf("A: %s, %v; want stuck", rec.State, err)
	}
	env.id = rec.ID
	def = threeSteps(l, reject2)
	undo0 := def.Steps[0].Compensate
	def.Steps[0].Compensate = func(ctx context.Context, o *order) error {
		env.entered <- struct{}{}
		select {
		case <-env.release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return undo0(ctx, o)
	}
	env.b = newEngine(t, store, saga.WithOwner("b"))
	if _, err := saga.Register(env.b, def); err != nil {
		t.Fatal(err)
	}
	return env
}

var errDeclined = catga.Reject("declined", "no")

// waitDue waits until saga id has a due entry.
func waitDue(t *testing.T, ctx context.Context, s sagastore.Store, id string) {
	t.Helper()
	for {
		entries, err := s.Due(ctx, time.Now(), 0)
		if err == nil && slices.ContainsFunc(entries, func(e sagastore.Entry) bool { return e.ID == id }) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("saga %s never became due (%v)", id, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestOperatorRetryReachesParticipantAnew: the participant's transport
// caches replies by idempotency key (as transport.Serve does), and the
// compensation failed, so the saga went Stuck. The operator fixes the
// participant and retries: the retry must reach the participant, not get
// the cached failure back.
func TestOperatorRetryReachesParticipantAnew(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	l := newLedger()
	var mu sync.Mutex
	cached := map[string]error{} // reply cache by idempotency key
	var broken atomic.Bool
	broken.Store(true)
	undo0 := func(ctx context.Context, o *order) error {
		md, _ := catga.MetadataFrom(ctx)
		mu.Lock()
		defer mu.Unlock()
		if err, ok := cached[md.Key()]; ok {
			return err
		}
		var err error
		if broken.Load() {
			err = catga.Reject("unavailable", "undo of step 0 refused")
		} else {
			err = l.undo(ctx)
		}
		cached[md.Key()] = err
		return err
	}
	def := threeSteps(l, func(step int) error {
		if step == 2 {
			return errDeclined
		}
		return nil
	})
	def.Steps[0].Compensate = undo0
	e := newEngine(t, checkedMemory(t))
	s, err := saga.Register(e, def)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Run(ctx, "", order{ID: "anew"})
	if err != nil || rec.State != sagastore.StateStuck {
		t.Fatalf("%s, %v; want stuck", rec.State, err)
	}
	broken.Store(false) // the operator fixed the participant
	if err := e.Retry(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	final, err := e.Await(ctx, rec.ID)
	if err != nil || final.State != sagastore.StateCompensated {
		t.Fatalf("after the operator's retry: %s %q, %v; want compensated", final.State, final.Error, err)
	}
	if _, undid, twice := l.counts(); undid != 2 || twice {
		t.Fatalf("undone %d twice %v, want steps 1 and 0 undone once", undid, twice)
	}
}

// TestLegacyDueEntries: due entries written before entries carried epochs
// (epoch 0: a bare id) keep their sagas recoverable across the upgrade: an
// expired one is claimed and finished, a live one gets an entry of its
// epoch in place of the legacy one.
func TestLegacyDueEntries(t *testing.T) {
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			ctx := ctxT(t, 20*time.Second)
			store, l := st.open(t), newLedger()
			plant := func(id string, lease time.Time) {
				now := time.Now().UTC()
				rec := sagastore.Record{ID: id, Name: "order", State: sagastore.StateRunning,
					Steps: []sagastore.StepState{{Status: sagastore.StepStarted, KeyEpoch: 1}, {}, {}}, Data: []byte(`{"ID":"legacy"}`),
					Owner: "old-peer", Epoch: 1, LeaseUntil: lease, CreatedAt: now, UpdatedAt: now}
				if _, err := store.Create(ctx, rec); err != nil {
					t.Fatal(err)
				}
				if err := store.Unindex(ctx, sagastore.Entry{ID: id, Epoch: 1}); err != nil {
					t.Fatal(err)
				}
				if err := store.Index(ctx, sagastore.Entry{ID: id, At: time.Now().Add(-time.Second)}); err != nil {
					t.Fatal(err)
				}
			}
			expired, live := "legacy-expired-"+uuid.NewString()[:8], "legacy-live-"+uuid.NewString()[:8]
			plant(expired, time.Now().Add(-time.Second))
			plant(live, time.Now().Add(time.Hour))
			e := newEngine(t, store, saga.WithOwner("new-peer"))
			if _, err := saga.Register(e, threeSteps(l, func(int) error { return nil })); err != nil {
				t.Fatal(err)
			}
			final := recoverUntilFinal(t, ctx, e, expired)
			if final.State != sagastore.StateCompleted || final.Epoch != 2 {
				t.Fatalf("expired legacy saga: %s epoch %d", final.State, final.Epoch)
			}
			entries, err := store.Due(ctx, time.Now().Add(2*time.Hour), 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []sagastore.Entry
			for _, en := range entries {
				if en.ID == live {
					got = append(got, en)
				}
			}
			if len(got) != 1 || got[0].Epoch != 1 {
				t.Fatalf("live legacy saga's entries %+v, want one of epoch 1", got)
			}
		})
	}
}

// TestListFinishedSagas: the engine's final transitions index every
// finished saga, so an operator pages through exactly the completed and
// the compensated ones, in the order they finished, on every store.
func TestListFinishedSagas(t *testing.T) {
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			ctx := ctxT(t, 30*time.Second)
			e := newEngine(t, st.open(t))
			s, err := saga.Register(e, threeSteps(newLedger(), func(int) error { return nil }))
			if err != nil {
				t.Fatal(err)
			}
			declined := threeSteps(newLedger(), func(step int) error {
				if step == 2 {
					return catga.Reject("declined", "no")
				}
				return nil
			})
			declined.Name = "declined"
			d, err := saga.Register(e, declined)
			if err != nil {
				t.Fatal(err)
			}
			want := map[sagastore.State][]string{}
			for i := range 7 {
				run := s.Run
				if i%3 == 1 {
					run = d.Run
				}
				rec, err := run(ctx, "", order{ID: uuid.NewString()})
				if err != nil && rec.State != sagastore.StateCompensated {
					t.Fatal(err)
				}
				want[rec.State] = append(want[rec.State], rec.ID)
			}
			for _, state := range []sagastore.State{sagastore.StateCompleted, sagastore.StateCompensated} {
				var got []string
				cursor := ""
				for more := true; more; {
					p, err := e.ListFinished(ctx, state, cursor, 2)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range p.Records {
						got = append(got, r.ID)
					}
					cursor, more = p.Next, p.More
				}
				if !slices.Equal(got, want[state]) {
					t.Fatalf("ListFinished(%s) = %v, want %v", state, got, want[state])
				}
			}
		})
	}
}
