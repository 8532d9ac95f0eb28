package eventstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
)

// TestSubscriptionErrors: a retryable handler error is retried on the same
// event; a permanent one, or a panic, stops Run with the error, and the
// checkpoint stays after the last event handled, so a fixed handler
// resumes at the failed event.
func TestSubscriptionErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := depositStore(t)
	for i := range 4 {
		if _, err := store.Append(ctx, "a", int64(i), []eventstore.Event{{Data: Deposited{Amount: i + 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		fail func(amount, calls int) error
	}{
		{name: "permanent error", fail: func(amount, _ int) error {
			if amount == 3 {
				return catga.Permanent(errors.New("bad event"))
			}
			return nil
		}},
		{name: "panic", fail: func(amount, _ int) error {
			if amount == 3 {
				panic("handler bug")
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "sub-" + tt.name
			var got []int
			calls := 0
			handle := func(_ context.Context, r eventstore.Record) error {
				calls++
				amount := r.Event.(Deposited).Amount
				if amount == 2 && calls == 2 {
					return errors.New("database hiccup") // retryable: the same event again
				}
				if err := tt.fail(amount, calls); err != nil {
					return err
				}
				got = append(got, amount)
				return nil
			}
			sub, err := eventstore.NewSubscription(store, store, name, handle, eventstore.WithPollInterval(5*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if err := sub.Run(ctx); err == nil || catga.IsRetryable(err) {
				t.Fatalf("Run = %v, want a permanent error", err)
			}
			if len(got) != 2 || got[0] != 1 || got[1] != 2 {
				t.Fatalf("handled %v, want [1 2] (2 retried once)", got)
			}
			cp, err := store.LoadCheckpoint(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			// The fixed handler resumes at event 3.
			var resumed []int
			rctx, stop := context.WithCancel(ctx)
			fixed, _ := eventstore.NewSubscription(store, store, name, func(_ context.Context, r eventstore.Record) error {
				resumed = append(resumed, r.Event.(Deposited).Amount)
				if len(resumed) == 2 {
					stop()
				}
				return nil
			}, eventstore.WithPollInterval(5*time.Millisecond))
			if err := fixed.Run(rctx); err != nil {
				t.Fatal(err)
			}
			if len(resumed) != 2 || resumed[0] != 3 || resumed[1] != 4 {
				t.Fatalf("resumed from %v with %v, want [3 4]", cp, resumed)
			}
		})
	}
}

// TestSubscriptionWokenByCommit: with an hour between polls, an event
// appended while the subscription idles can only arrive through the
// store's commit announcement.
func TestSubscriptionWokenByCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := depositStore(t)
	got := make(chan int, 10)
	sub, err := eventstore.NewSubscription(store, store, "p", func(_ context.Context, r eventstore.Record) error {
		got <- r.Event.(Deposited).Amount
		return nil
	}, eventstore.WithPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sub.Run(rctx) }()
	for i := 1; i <= 3; i++ {
		if _, err := store.Append(ctx, "a", eventstore.Any, []eventstore.Event{{Data: Deposited{Amount: i}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-got:
			if n != i {
				t.Fatalf("got %d, want %d", n, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d never arrived: the subscription was not woken", i)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// flakyCheckpoints fails its first loads as a database that is still
// starting would.
type flakyCheckpoints struct {
	eventstore.Checkpoints
	failures atomic.Int32
}

func (f *flakyCheckpoints) LoadCheckpoint(ctx context.Context, name string) (eventstore.Checkpoint, error) {
	if f.failures.Add(-1) >= 0 {
		return eventstore.Checkpoint{}, errors.New("connection refused")
	}
	return f.Checkpoints.LoadCheckpoint(ctx, name)
}

// TestSubscriptionOutlastsCheckpointOutage: a subscription started while
// its checkpoint store fails (retryably) keeps trying and then delivers;
// one whose context ends while it waits returns nil.
func TestSubscriptionOutlastsCheckpointOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := depositStore(t)
	if _, err := store.Append(ctx, "a", eventstore.NoStream, []eventstore.Event{{Data: Deposited{Amount: 1}}}); err != nil {
		t.Fatal(err)
	}
	cps := &flakyCheckpoints{Checkpoints: store}
	cps.failures.Store(3)
	rctx, stop := context.WithCancel(ctx)
	delivered := 0
	sub, err := eventstore.NewSubscription(store, cps, "outage", func(context.Context, eventstore.Record) error {
		delivered++
		stop()
		return nil
	}, eventstore.WithPollInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Run(rctx); err != nil || delivered != 1 {
		t.Fatalf("Run = %v after delivering %d events; want nil after the one event", err, delivered)
	}

	cps.failures.Store(1 << 30) // down for good
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer wcancel()
	if err := sub.Run(wctx); err != nil {
		t.Fatalf("Run ended by its context during the outage = %v, want nil", err)
	}
}

// depositStore is an empty SQLite store of Deposited events.
func depositStore(t *testing.T) *sqlitestore.Store {
	t.Helper()
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[Deposited](reg, "account.deposited")
	store, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "deposits.db"), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}
