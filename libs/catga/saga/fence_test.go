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
	"github.com/catga-go/catga/libs/catga/saga/redisfence"
)

// fenceCall is one call in a fence scenario and what it must return.
type fenceCall struct {
	commit, abort bool // Commit or Abort instead of Admit
	wait          bool // let every reservation expire
	op            saga.Op
	want          saga.Admission
	code          string // rejection code expected, if any
	inProgress    bool   // ErrInProgress expected
}

func act(epoch uint64) saga.Op { return saga.Op{Key: "k", Epoch: epoch, Token: "t1"} }
func undo(epoch uint64) saga.Op {
	return saga.Op{Key: "k", Epoch: epoch, Compensation: true, Token: "u1"}
}

func by(op saga.Op, token string) saga.Op { op.Token = token; return op }

// scenarioReservation is the reservation of the fences under scenario test;
// a wait call outlasts it.
const scenarioReservation = 150 * time.Millisecond

var fenceScenarios = []struct {
	name  string
	calls []fenceCall
}{
	{"action applies once", []fenceCall{
		{op: act(1), want: saga.Apply}, {commit: true, op: act(1)},
		{op: act(1), want: saga.Duplicate}, {op: act(2), want: saga.Duplicate},
	}},
	{"stale epoch rejected", []fenceCall{
		{op: act(2), want: saga.Apply}, {op: act(1), code: saga.CodeStaleEpoch},
		{op: undo(1), code: saga.CodeStaleEpoch}, {op: by(act(3), "t2"), inProgress: true},
		{abort: true, op: act(2)}, {op: by(act(3), "t2"), want: saga.Apply},
	}},
	{"compensation before action leaves a tombstone", []fenceCall{
		{op: undo(1), want: saga.NothingToUndo}, {op: act(1), code: saga.CodeCompensated},
		{op: undo(1), want: saga.Duplicate},
	}},
	{"compensation after action undoes once", []fenceCall{
		{op: act(1), want: saga.Apply}, {commit: true, op: act(1)},
		{op: undo(2), want: saga.Apply}, {op: by(undo(2), "u2"), inProgress: true},
		{commit: true, op: undo(2)}, {op: undo(2), want: saga.Duplicate},
	}},
	{"concurrent delivery waits for the one in progress", []fenceCall{
		{op: act(1), want: saga.Apply}, {op: by(act(1), "t2"), inProgress: true},
		{commit: true, op: act(1)}, {op: by(act(1), "t2"), want: saga.Duplicate},
	}},
	{"compensation waits for the action in flight", []fenceCall{
		{op: act(1), want: saga.Apply}, {op: undo(1), inProgress: true},
		{commit: true, op: act(1)}, {op: undo(1), want: saga.Apply},
	}},
	{"abort releases the reservation", []fenceCall{
		{op: act(1), want: saga.Apply}, {abort: true, op: by(act(1), "other")},
		{op: by(act(1), "t2"), inProgress: true}, {abort: true, op: act(1)},
		{op: by(act(1), "t2"), want: saga.Apply},
	}},
	{"expired reservation is taken over", []fenceCall{
		{op: act(1), want: saga.Apply}, {wait: true}, {op: by(act(1), "t2"), want: saga.Apply},
	}},
	{"late action commit refused after compensation", []fenceCall{
		{op: act(1), want: saga.Apply}, {wait: true}, {op: undo(1), want: saga.NothingToUndo},
		{commit: true, op: act(1), code: saga.CodeCompensated},
	}},
	{"commit by a superseded owner is recorded and refused", []fenceCall{
		{op: act(1), want: saga.Apply}, {op: undo(2), inProgress: true},
		{commit: true, op: act(1), code: saga.CodeStaleEpoch},
		{op: undo(2), want: saga.Apply}, {op: by(act(2), "t2"), want: saga.Duplicate},
	}},
	{"epoch zero is unfenced", []fenceCall{
		{op: act(5), want: saga.Apply}, {commit: true, op: act(5)}, {op: act(0), want: saga.Duplicate},
	}},
}

func runFenceScenarios(t *testing.T, newFence func() saga.Fence) {
	for _, sc := range fenceScenarios {
		t.Run(sc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			f, sagaID := newFence(), uuid.NewString()
			for i, c := range sc.calls {
				if c.wait {
					time.Sleep(scenarioReservation + 50*time.Millisecond)
					continue
				}
				c.op.Saga = sagaID
				var adm saga.Admission
				var err error
				switch {
				case c.commit:
					err = f.Commit(ctx, c.op)
				case c.abort:
					err = f.Abort(ctx, c.op)
				default:
					adm, err = f.Admit(ctx, c.op)
				}
				var rej *catga.RejectionError
				switch {
				case c.code != "":
					if !errors.As(err, &rej) || rej.Code != c.code {
						t.Fatalf("call %d (%+v): %v, want rejection %s", i, c.op, err, c.code)
					}
				case c.inProgress:
					if !errors.Is(err, saga.ErrInProgress) || !catga.IsRetryable(err) {
						t.Fatalf("call %d (%+v): %v, want retryable ErrInProgress", i, c.op, err)
					}
				case err != nil:
					t.Fatalf("call %d (%+v): %v", i, c.op, err)
				case !c.commit && !c.abort && adm != c.want:
					t.Fatalf("call %d (%+v): admission %d, want %d", i, c.op, adm, c.want)
				}
			}
		})
	}
}

func TestMemoryFence(t *testing.T) {
	runFenceScenarios(t, func() saga.Fence { return saga.NewMemoryFence(saga.WithReservation(scenarioReservation)) })
}

func TestRedisFence(t *testing.T) {
	c := sharedCluster(t)
	rdb := clusterClient(c.Addrs())
	t.Cleanup(func() { _ = rdb.Close() })
	runFenceScenarios(t, func() saga.Fence {
		return redisfence.New(rdb, "fence-test", time.Minute, saga.WithReservation(scenarioReservation))
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
