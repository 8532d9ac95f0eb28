package saga_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/fencetest"
	"github.com/catga-go/catga/libs/catga/saga/redisfence"
)

// TestMemoryFence: MemoryFence passes the fence suite.
func TestMemoryFence(t *testing.T) {
	fencetest.Run(t, func(*testing.T) fencetest.Subject {
		return fencetest.ForFence(saga.NewMemoryFence(saga.WithReservation(fencetest.Reservation)))
	})
}

// TestRedisFence: the Redis fence passes the fence suite on a Redis
// Cluster.
func TestRedisFence(t *testing.T) {
	c := sharedCluster(t)
	rdb := clusterClient(c.Addrs())
	t.Cleanup(func() { _ = rdb.Close() })
	fencetest.Run(t, func(*testing.T) fencetest.Subject {
		return fencetest.ForFence(redisfence.New(rdb, "fence-"+uuid.NewString()[:8], time.Minute, saga.WithReservation(fencetest.Reservation)))
	})
}

// TestRedisFenceExpires: a fence hash created by a lone Admit expires (the
// expiry is set after the script's writes, not before the hash exists).
func TestRedisFenceExpires(t *testing.T) {
	c := sharedCluster(t)
	rdb := clusterClient(c.Addrs())
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := ctxT(t, 10*time.Second)
	f := redisfence.New(rdb, "fence-ttl", time.Minute)
	for _, op := range []saga.Op{{Key: "k", Epoch: 3, Token: "t"}, {Key: "k", Epoch: 1, Compensation: true}} {
		op.Saga = uuid.NewString()
		if _, err := f.Admit(ctx, op); err != nil {
			t.Fatal(err)
		}
		if ttl := rdb.PTTL(ctx, f.Key(op.Saga)).Val(); ttl <= 0 || ttl > time.Minute {
			t.Fatalf("fence hash after a lone Admit(%+v) has TTL %v, want about 1m", op, ttl)
		}
	}
}

func TestOpFrom(t *testing.T) {
	cases := []struct {
		name string
		md   *catga.Metadata
		want saga.Op
		ok   bool
	}{
		{"no metadata", nil, saga.Op{}, false},
		{"action", &catga.Metadata{CorrelationID: "s", IdempotencyKey: "s/0/1", Epoch: 2}, saga.Op{Saga: "s", Key: "s/0/1", Epoch: 2}, true},
		{"compensation", &catga.Metadata{CorrelationID: "s", IdempotencyKey: "s/0/1/undo", Epoch: 3}, saga.Op{Saga: "s", Key: "s/0/1", Epoch: 3, Compensation: true}, true},
		{"compensation after an operator retry", &catga.Metadata{CorrelationID: "s", IdempotencyKey: saga.UndoKey("s/0/1", 2), Epoch: 4}, saga.Op{Saga: "s", Key: "s/0/1", Epoch: 4, Compensation: true}, true},
		{"action of a saga named like a compensation", &catga.Metadata{CorrelationID: "s/undo.x", IdempotencyKey: "s/undo.x/0/1", Epoch: 1}, saga.Op{Saga: "s/undo.x", Key: "s/undo.x/0/1", Epoch: 1}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			if c.md != nil {
				ctx = catga.WithMetadata(ctx, *c.md)
			}
			got, ok := saga.OpFrom(ctx)
			if ok != c.ok || got != c.want {
				t.Fatalf("OpFrom = %+v, %v; want %+v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// TestRedisFenceApply: the transactional path applies each effect once and
// keeps the fence rules: duplicates answered without the effect, a
// compensation before its action leaves a tombstone that refuses the action,
// stale epochs refused.
func TestRedisFenceApply(t *testing.T) {
	c := sharedCluster(t)
	rdb := clusterClient(c.Addrs())
	t.Cleanup(func() { _ = rdb.Close() })
	fence := redisfence.New(rdb, "fence-apply", time.Minute)
	ctx := context.Background()

	tests := []struct {
		name    string
		ops     []saga.Op
		want    []saga.Admission
		rejects string // rejection code of the last op, if any
		effects map[string]string
	}{
		{
			name: "duplicate action applies once",
			ops:  []saga.Op{{Key: "k", Epoch: 1}, {Key: "k", Epoch: 1}, {Key: "k", Epoch: 2}},
			want: []saga.Admission{saga.Apply, saga.Duplicate, saga.Duplicate}, effects: map[string]string{"k": "1"},
		},
		{
			name: "action then compensation, each once",
			ops:  []saga.Op{{Key: "k", Epoch: 1}, {Key: "k", Epoch: 1, Compensation: true}, {Key: "k", Epoch: 1, Compensation: true}},
			want: []saga.Admission{saga.Apply, saga.Apply, saga.Duplicate}, effects: map[string]string{"k": "1", "k/undo": "1"},
		},
		{
			name: "compensation first refuses the late action",
			ops:  []saga.Op{{Key: "k", Epoch: 1, Compensation: true}, {Key: "k", Epoch: 1}},
			want: []saga.Admission{saga.NothingToUndo}, rejects: saga.CodeCompensated, effects: map[string]string{},
		},
		{
			name: "stale epoch refused",
			ops:  []saga.Op{{Key: "k", Epoch: 3}, {Key: "k2", Epoch: 2}},
			want: []saga.Admission{saga.Apply}, rejects: saga.CodeStaleEpoch, effects: map[string]string{"k": "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uuid.NewString()
			effects := "fence-apply:effects:{" + id + "}"
			var got []saga.Admission
			var lastErr error
			for _, op := range tt.ops {
				op.Saga = id
				field := op.Key
				if op.Compensation {
					field += "/undo"
				}
				adm, err := fence.Apply(ctx, op, func(tx redis.Pipeliner) error {
					tx.HIncrBy(ctx, effects, field, 1)
					return nil
				})
				if err != nil {
					lastErr = err
					break
				}
				got = append(got, adm)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("admissions = %v, want %v (err %v)", got, tt.want, lastErr)
			}
			var re *catga.RejectionError
			switch {
			case tt.rejects == "" && lastErr != nil:
				t.Fatalf("unexpected error: %v", lastErr)
			case tt.rejects != "" && (!errors.As(lastErr, &re) || re.Code != tt.rejects):
				t.Fatalf("err = %v, want rejection %s", lastErr, tt.rejects)
			}
			if have := rdb.HGetAll(ctx, effects).Val(); fmt.Sprint(have) != fmt.Sprint(tt.effects) {
				t.Fatalf("effects = %v, want %v", have, tt.effects)
			}
		})
	}
}

// TestRedisFenceApplyWatched: an effect that reads before it writes
// ("reserve if stock >= 1") is applied exactly once under concurrent
// duplicate deliveries, and a refusal decided from what it read writes
// nothing.
func TestRedisFenceApplyWatched(t *testing.T) {
	c := sharedCluster(t)
	rdb := clusterClient(c.Addrs())
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := ctxT(t, 20*time.Second)
	fence := redisfence.New(rdb, "fence-watched", time.Minute)
	reserve := func(op saga.Op, stock string) (saga.Admission, error) {
		return fence.ApplyWatched(ctx, op, []string{stock}, func(ctx context.Context, tx *redis.Tx, p redis.Pipeliner) error {
			n, err := tx.Get(ctx, stock).Int()
			if err != nil {
				return err
			}
			if n < 1 {
				return catga.Reject("out_of_stock", "stock %d", n)
			}
			p.Set(ctx, stock, n-1, 0)
			return nil
		})
	}
	t.Run("concurrent duplicates reserve once", func(t *testing.T) {
		id := uuid.NewString()
		stock := "fence-watched:stock:{" + id + "}"
		rdb.Set(ctx, stock, 5, time.Minute)
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				if _, err := reserve(saga.Op{Saga: id, Key: "k", Epoch: 1}, stock); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n, _ := rdb.Get(ctx, stock).Int(); n != 4 {
			t.Fatalf("stock %d after 6 deliveries of one reservation, want 4", n)
		}
	})
	t.Run("refusal writes nothing", func(t *testing.T) {
		id := uuid.NewString()
		stock := "fence-watched:stock:{" + id + "}"
		rdb.Set(ctx, stock, 0, time.Minute)
		var rej *catga.RejectionError
		if _, err := reserve(saga.Op{Saga: id, Key: "k", Epoch: 1}, stock); !errors.As(err, &rej) || rej.Code != "out_of_stock" {
			t.Fatalf("reserve with no stock: %v", err)
		}
		rdb.Set(ctx, stock, 1, time.Minute) // restocked: the saga's retry reserves
		if adm, err := reserve(saga.Op{Saga: id, Key: "k", Epoch: 1}, stock); err != nil || adm != saga.Apply {
			t.Fatalf("retry after restock: %v, %v", adm, err)
		}
		if n, _ := rdb.Get(ctx, stock).Int(); n != 0 {
			t.Fatalf("stock %d, want 0", n)
		}
	})
}
