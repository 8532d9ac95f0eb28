package storefence_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
)

// The tests' participant: event-sourced accounts charged by saga steps.

type charged struct {
	Saga   string `json:"saga"`
	Amount int64  `json:"amount"`
}

type account struct {
	Balance int64 // total charged
	Charges int
}

var accounts = eventstore.Aggregate[account]{Prefix: "account-", Evolve: func(a account, ev any) account {
	if c, ok := ev.(charged); ok {
		a.Balance += c.Amount
		a.Charges++
	}
	return a
}}

func registerAccount(reg *eventstore.Registry) error {
	return eventstore.Register[charged](reg, "test.charged")
}

// charge is the participant's effect for a saga's charge step.
func charge(id string, c charged) func(ctx context.Context, es eventstore.Store) error {
	return func(ctx context.Context, es eventstore.Store) error {
		_, err := accounts.Handle(ctx, es, id, func(account) ([]any, error) { return []any{c}, nil }, eventstore.WithMaxAttempts(20))
		return err
	}
}

// TestConcurrentCharges: 50 sagas charge one account, each charge
// delivered three times at once, alongside deliveries from a stale owner
// and late deliveries of charges already compensated, every handler in a
// goroutine of its own. The balance is exactly one charge per applied
// saga; compensated sagas charged nothing; stale owners were refused.
func TestConcurrentCharges(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t, registry(t))
			f := newFence(t, s)
			ctx := ctxT(t)
			const sagas, copies = 50, 3
			op := func(i int, epoch uint64) saga.Op {
				return saga.Op{Saga: fmt.Sprintf("order-%d", i), Key: "charge", Epoch: epoch}
			}
			tombstoned := func(i int) bool { return i%5 == 0 }
			// Every saga was taken over once (epoch 2 seen); one in five
			// was compensated before its charge arrived.
			for i := range sagas {
				first := op(i, 2)
				first.Key = "open"
				if tombstoned(i) {
					first.Key, first.Compensation = "charge", true
				}
				if _, err := f.Apply(ctx, first, func(context.Context, eventstore.Store) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}

			var applied, duplicates, stale, late atomic.Int32
			errs := make(chan error, sagas*(copies+1))
			start := make(chan struct{})
			var wg sync.WaitGroup
			deliver := func(i int, epoch uint64) {
				defer wg.Done()
				<-start
				adm, err := f.Apply(ctx, op(i, epoch), charge("acct", charged{Saga: op(i, epoch).Saga, Amount: int64(i + 1)}))
				var rej *catga.RejectionError
				switch {
				case err == nil && adm == saga.Apply:
					applied.Add(1)
				case err == nil && adm == saga.Duplicate:
					duplicates.Add(1)
				case errors.As(err, &rej) && rej.Code == saga.CodeStaleEpoch && epoch == 1:
					stale.Add(1)
				case errors.As(err, &rej) && rej.Code == saga.CodeCompensated && tombstoned(i):
					late.Add(1)
				default:
					errs <- fmt.Errorf("saga %d epoch %d: (%v, %w)", i, epoch, adm, err)
				}
			}
			var want int64
			for i := range sagas {
				wg.Add(copies + 1)
				for range copies {
					go deliver(i, 2)
				}
				go deliver(i, 1) // the previous owner, still sending
				if !tombstoned(i) {
					want += int64(i + 1)
				}
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			const live = sagas - sagas/5
			if applied.Load() != live || duplicates.Load() != live*(copies-1) || stale.Load() != sagas || late.Load() != copies*sagas/5 {
				t.Fatalf("answers: %d applied, %d duplicates, %d stale, %d late; want %d, %d, %d, %d",
					applied.Load(), duplicates.Load(), stale.Load(), late.Load(), live, live*(copies-1), sagas, copies*sagas/5)
			}
			st, err := accounts.Load(ctx, s, "acct")
			if err != nil {
				t.Fatal(err)
			}
			if st.Value.Balance != want || st.Value.Charges != live {
				t.Fatalf("account: %+v; want balance %d from %d charges", st.Value, want, live)
			}
		})
	}
}

// TestConflictRetriedInTx: a version conflict inside the effect is retried
// by the aggregate helper within the fence's transaction. The effect's
// decision is made stale by an append in the same transaction, between
// its load and its multi-stream append: the refused append must undo its
// parts already written (a savepoint) and leave the transaction usable, so
// the retry appends to both accounts once and the fence record commits.
func TestConflictRetriedInTx(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t, registry(t))
			f := newFence(t, s)
			ctx := ctxT(t)
			op := saga.Op{Saga: "order-1", Key: "split", Epoch: 1}
			var decisions int
			adm, err := f.Apply(ctx, op, func(ctx context.Context, es eventstore.Store) error {
				_, err := accounts.HandleMulti(ctx, es, []string{"a", "b"}, func(map[string]account) (map[string][]any, error) {
					decisions++
					if decisions == 1 { // another charge of b lands first
						if _, err := accounts.Handle(ctx, es, "b", func(account) ([]any, error) { return []any{charged{Saga: "other", Amount: 100}}, nil }); err != nil {
							return nil, err
						}
					}
					return map[string][]any{"a": {charged{Saga: op.Saga, Amount: 1}}, "b": {charged{Saga: op.Saga, Amount: 2}}}, nil
				})
				return err
			})
			if err != nil || adm != saga.Apply {
				t.Fatalf("Apply = (%v, %v)", adm, err)
			}
			if decisions != 2 {
				t.Fatalf("decided %d times, want 2: the conflict was not retried", decisions)
			}
			for id, want := range map[string]account{"a": {Balance: 1, Charges: 1}, "b": {Balance: 102, Charges: 2}} {
				if st, err := accounts.Load(ctx, s, id); err != nil || st.Value != want {
					t.Fatalf("account %s = %+v, %v; want %+v", id, st.Value, err, want)
				}
			}
			if adm, err := f.Apply(ctx, op, func(context.Context, eventstore.Store) error { return errors.New("ran again") }); err != nil || adm != saga.Duplicate {
				t.Fatalf("redelivery = (%v, %v), want Duplicate", adm, err)
			}
		})
	}
}

// TestConflictWithAnotherTxRetried: another transaction commits a charge
// to the account between the effect's load and its append; the append is
// refused, and the aggregate helper's reload inside the fence's
// transaction sees the other charge, so the retry appends.
func TestConflictWithAnotherTxRetried(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if b.name == "sqlite" {
				t.Skip("SQLite runs one write transaction at a time: no other can commit inside the fence's")
			}
			s := b.open(t, registry(t))
			f := newFence(t, s)
			ctx := ctxT(t)
			op := saga.Op{Saga: "order-1", Key: "charge", Epoch: 1}
			decisions := 0
			adm, err := f.Apply(ctx, op, func(ctx context.Context, es eventstore.Store) error {
				_, err := accounts.Handle(ctx, es, "acct", func(account) ([]any, error) {
					decisions++
					if decisions == 1 { // committed by another transaction, now
						if _, err := accounts.Handle(ctx, s, "acct", func(account) ([]any, error) { return []any{charged{Saga: "other", Amount: 100}}, nil }); err != nil {
							return nil, err
						}
					}
					return []any{charged{Saga: op.Saga, Amount: 1}}, nil
				})
				return err
			})
			if err != nil || adm != saga.Apply || decisions != 2 {
				t.Fatalf("Apply = (%v, %v) after %d decisions; want Apply after 2", adm, err, decisions)
			}
			if st, err := accounts.Load(ctx, s, "acct"); err != nil || st.Value != (account{Balance: 101, Charges: 2}) {
				t.Fatalf("account = %+v, %v; want both charges", st.Value, err)
			}
		})
	}
}
