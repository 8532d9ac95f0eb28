package redisfence_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/redisfence"
)

var errEffect = errors.New("effect failed")

// TestApplyFailedEffectWritesNothing: an effect that queued a write and
// then fails, refuses or panics leaves neither its write nor the fence record: Apply returns the failure (a
// panic as a permanent error, not as a crash of the participant), and the
// next delivery applies the op once.
func TestApplyFailedEffectWritesNothing(t *testing.T) {
	cases := []struct {
		name  string
		fail  func() error // after the effect queued its write
		check func(err error) bool
	}{
		{"effect fails", func() error { return errEffect },
			func(err error) bool { return errors.Is(err, errEffect) }},
		{"effect refuses", func() error { return catga.Reject("out_of_stock", "none left") },
			catga.IsRejection},
		{"effect panics", func() error { panic("effect panics after queuing its write") },
			func(err error) bool { return err != nil && !catga.IsRetryable(err) }},
	}
	forEachServer(t, func(t *testing.T, rdb redis.UniversalClient, f *redisfence.Fence) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := ctxT(t)
				op := saga.Op{Saga: uuid.NewString(), Key: "k", Epoch: 1}
				key := f.Key(op.Saga) + ":effect"
				write := func(tx redis.Pipeliner) error {
					tx.Incr(ctx, key)
					return nil
				}
				_, err := apply(t, ctx, f, op, func(tx redis.Pipeliner) error {
					_ = write(tx)
					return tc.fail()
				})
				if !tc.check(err) {
					t.Fatalf("Apply = %v: not the failure expected", err)
				}
				if n := counter(t, ctx, rdb, key); n != 0 {
					t.Fatalf("the failed effect's write was applied (%d)", n)
				}
				for _, want := range []saga.Admission{saga.Apply, saga.Duplicate} {
					if adm, err := apply(t, ctx, f, op, write); err != nil || adm != want {
						t.Fatalf("redelivery: (%v, %v), want %v", adm, err, want)
					}
				}
				if n := counter(t, ctx, rdb, key); n != 1 {
					t.Fatalf("after the redeliveries the effect was applied %d times, want 1", n)
				}
			})
		}
	})
}

// TestApplyRecordsNewerEpoch: an Apply by a newer owner that does not
// apply its op (refused, waiting for another delivery, or its effect
// failed or panicked) still records its epoch, so the older owner is
// refused afterwards, through Apply and through Admit, as by every fence.
func TestApplyRecordsNewerEpoch(t *testing.T) {
	nothing := func(redis.Pipeliner) error { return nil }
	cases := []struct {
		name  string
		setup func(ctx context.Context, f *redisfence.Fence, id string) error
		fail  func(redis.Pipeliner) error // the newer owner's effect
		check func(err error) bool
	}{
		{"refused: compensated", func(ctx context.Context, f *redisfence.Fence, id string) error {
			_, err := f.Apply(ctx, saga.Op{Saga: id, Key: "k", Epoch: 1, Compensation: true}, nothing)
			return err
		}, nothing, func(err error) bool {
			var rej *catga.RejectionError
			return errors.As(err, &rej) && rej.Code == saga.CodeCompensated
		}},
		{"in progress: another delivery holds the key", func(ctx context.Context, f *redisfence.Fence, id string) error {
			_, err := f.Admit(ctx, saga.Op{Saga: id, Key: "k", Epoch: 1, Token: "other"})
			return err
		}, nothing, func(err error) bool { return errors.Is(err, saga.ErrInProgress) }},
		{"effect fails", nil, func(redis.Pipeliner) error { return errEffect },
			func(err error) bool { return errors.Is(err, errEffect) }},
		{"effect panics", nil, func(redis.Pipeliner) error { panic("effect panics") },
			func(err error) bool { return err != nil && !catga.IsRetryable(err) }},
	}
	forEachServer(t, func(t *testing.T, _ redis.UniversalClient, f *redisfence.Fence) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := ctxT(t)
				id := uuid.NewString()
				if tc.setup != nil {
					if err := tc.setup(ctx, f, id); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := apply(t, ctx, f, saga.Op{Saga: id, Key: "k", Epoch: 2}, tc.fail); !tc.check(err) {
					t.Fatalf("newer owner's Apply = %v: not the failure expected", err)
				}
				old := saga.Op{Saga: id, Key: "j", Epoch: 1, Token: "old"}
				if _, err := apply(t, ctx, f, old, nothing); !isStale(err) {
					t.Fatalf("older owner's Apply = %v, want %s", err, saga.CodeStaleEpoch)
				}
				if _, err := f.Admit(ctx, old); !isStale(err) {
					t.Fatalf("older owner's Admit = %v, want %s", err, saga.CodeStaleEpoch)
				}
			})
		}
	})
}

func isStale(err error) bool {
	var rej *catga.RejectionError
	return errors.As(err, &rej) && rej.Code == saga.CodeStaleEpoch
}

// TestApplyRebuildsEffect pins Apply's contract on effects: when another
// writer changes the saga's fence hash between the decision and EXEC, the
// transaction is built again, calling effect a second time, and only the
// writes of the transaction that commits take effect. That is why an effect
// must only queue writes on tx.
func TestApplyRebuildsEffect(t *testing.T) {
	forEachServer(t, func(t *testing.T, rdb redis.UniversalClient, f *redisfence.Fence) {
		ctx := ctxT(t)
		op := saga.Op{Saga: uuid.NewString(), Key: "k", Epoch: 1}
		key := f.Key(op.Saga) + ":effect"
		calls := 0
		adm, err := apply(t, ctx, f, op, func(tx redis.Pipeliner) error {
			calls++
			if calls == 1 { // another step of the saga reaches the fence meanwhile
				if _, err := f.Admit(ctx, saga.Op{Saga: op.Saga, Key: "other", Epoch: 1, Token: "t"}); err != nil {
					return err
				}
			}
			tx.Incr(ctx, key)
			return nil
		})
		if err != nil || adm != saga.Apply {
			t.Fatalf("Apply = (%v, %v), want Apply", adm, err)
		}
		if calls != 2 {
			t.Fatalf("effect called %d times, want 2: the conflicting transaction was not built again", calls)
		}
		if n := counter(t, ctx, rdb, key); n != 1 {
			t.Fatalf("effect's write applied %d times, want 1", n)
		}
	})
}

// counter reads a counter the effects increment (0 if absent).
func counter(t *testing.T, ctx context.Context, rdb redis.UniversalClient, key string) int {
	t.Helper()
	n, err := rdb.Get(ctx, key).Int()
	if errors.Is(err, redis.Nil) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}
