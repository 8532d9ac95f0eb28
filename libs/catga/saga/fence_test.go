package saga_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
)

// fenceCall is one call in a fence scenario and what it must return.
type fenceCall struct {
	commit bool // Commit instead of Admit
	op     saga.Op
	want   saga.Admission
	code   string // rejection code expected, if any
}

func act(epoch uint64) saga.Op  { return saga.Op{Key: "k", Epoch: epoch} }
func undo(epoch uint64) saga.Op { return saga.Op{Key: "k", Epoch: epoch, Compensation: true} }

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
		{op: undo(1), code: saga.CodeStaleEpoch}, {op: act(3), want: saga.Apply},
	}},
	{"compensation before action leaves a tombstone", []fenceCall{
		{op: undo(1), want: saga.NothingToUndo}, {op: act(1), code: saga.CodeCompensated},
		{op: undo(1), want: saga.Duplicate},
	}},
	{"compensation after action undoes once", []fenceCall{
		{op: act(1), want: saga.Apply}, {commit: true, op: act(1)},
		{op: undo(2), want: saga.Apply}, {commit: true, op: undo(2)}, {op: undo(2), want: saga.Duplicate},
	}},
	{"late action commit refused after compensation", []fenceCall{
		{op: act(1), want: saga.Apply}, {op: undo(1), want: saga.NothingToUndo},
		{commit: true, op: act(1), code: saga.CodeCompensated},
	}},
	{"epoch zero is unfenced", []fenceCall{
		{op: act(5), want: saga.Apply}, {op: act(0), want: saga.Apply},
	}},
}

func runFenceScenarios(t *testing.T, newFence func() saga.Fence) {
	for _, sc := range fenceScenarios {
		t.Run(sc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			f, sagaID := newFence(), uuid.NewString()
			for i, c := range sc.calls {
				c.op.Saga = sagaID
				var adm saga.Admission
				var err error
				if c.commit {
					err = f.Commit(ctx, c.op)
				} else {
					adm, err = f.Admit(ctx, c.op)
				}
				var rej *catga.RejectionError
				switch {
				case c.code != "":
					if !errors.As(err, &rej) || rej.Code != c.code {
						t.Fatalf("call %d (%+v): %v, want rejection %s", i, c.op, err, c.code)
					}
				case err != nil:
					t.Fatalf("call %d (%+v): %v", i, c.op, err)
				case !c.commit && adm != c.want:
					t.Fatalf("call %d (%+v): admission %d, want %d", i, c.op, adm, c.want)
				}
			}
		})
	}
}

func TestMemoryFence(t *testing.T) {
	runFenceScenarios(t, func() saga.Fence { return saga.NewMemoryFence() })
}

func TestRedisFence(t *testing.T) {
	c := sharedCluster(t)
	rdb := clusterClient(c.Addrs())
	t.Cleanup(func() { _ = rdb.Close() })
	runFenceScenarios(t, func() saga.Fence { return saga.NewRedisFence(rdb, "fence-test", time.Minute) })
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
	fence := saga.NewRedisFence(rdb, "fence-apply", time.Minute)
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
