package fencetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
)

// Reservation is the reservation time a [Subject.Fence] must be built with
// (saga.WithReservation): some cases wait it out, and racing deliveries
// must commit within it, also on a loaded machine.
const Reservation = time.Second

// ForFence is the subject of a saga.Fence built with
// saga.WithReservation(Reservation): Apply as the guards use it, and the
// fence itself for [FenceCases].
func ForFence(f saga.Fence) Subject { return Subject{Apply: FromFence(f), Fence: f} }

// fenceCall is one call in a fence case and what it must return.
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

// FenceCases are the rules of saga.Fence's Admit, Commit and Abort:
// reservations, their expiry, and commits that come too late.
var FenceCases = []struct {
	Name  string
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

// Fence runs [FenceCases] on subjects with [Subject.Fence].
func Fence(t *testing.T, h Harness) {
	f := h(t).Fence // the cases use sagas of their own
	if f == nil {
		t.Skip("the fence does not implement saga.Fence (Subject.Fence is nil)")
	}
	for _, tc := range FenceCases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel() // the cases wait for reservations to expire
			ctx := ctxT(t)
			sagaID := "saga-" + uuid.NewString()
			for i, c := range tc.calls {
				if c.wait {
					time.Sleep(Reservation + 50*time.Millisecond)
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
				checkCall(t, i, c, adm, err)
			}
		})
	}
}

func checkCall(t *testing.T, i int, c fenceCall, adm saga.Admission, err error) {
	t.Helper()
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

// ctxT bounds a case.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
