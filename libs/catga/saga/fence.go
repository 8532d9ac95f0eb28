package saga

import (
	"context"
	"strings"
	"sync"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
)

// Rejection codes a Fence answers with.
const (
	CodeStaleEpoch  = "stale_epoch" // the sender is an old owner of the saga
	CodeCompensated = "compensated" // the action's compensation already ran
)

// Op is one step message as a participant's fence sees it.
type Op struct {
	Saga         string // saga id (Metadata.CorrelationID)
	Key          string // the action's idempotency key, without UndoSuffix
	Epoch        uint64 // sender's fencing epoch; 0 is unfenced
	Compensation bool
}

// OpFrom reads the Op of the step message being handled from ctx's metadata.
func OpFrom(ctx context.Context) (Op, bool) {
	md, ok := catga.MetadataFrom(ctx)
	if !ok || md.Key() == "" {
		return Op{}, false
	}
	op := Op{Saga: md.CorrelationID, Key: md.Key(), Epoch: md.Epoch}
	if k, undo := strings.CutSuffix(op.Key, UndoSuffix); undo {
		op.Key, op.Compensation = k, true
	}
	if op.Saga == "" {
		op.Saga = op.Key
	}
	return op, true
}

// Admission is a Fence's decision on an Op.
type Admission int

const (
	// Apply: apply the op now, then Commit it.
	Apply Admission = iota
	// Duplicate: the op was applied and committed before; reply success
	// without applying it again.
	Duplicate
	// NothingToUndo: a compensation whose action never committed. The
	// fence wrote a tombstone (the action is refused from now on) and
	// recorded the compensation; reply success without undoing anything.
	NothingToUndo
)

// Fence is the participant side of saga fencing and idempotency.
//
// Contract, atomic per saga:
//   - Admit rejects (catga.Reject, CodeStaleEpoch) an op whose Epoch is
//     older than the newest epoch seen for the saga, and records a newer
//     one.
//   - For an action, Admit returns Duplicate once the key was committed,
//     rejects with CodeCompensated when a compensation tombstone exists,
//     and Apply otherwise.
//   - For a compensation, Admit returns Duplicate once it was committed,
//     Apply when the action was committed, and otherwise writes the
//     tombstone, records the compensation and returns NothingToUndo.
//   - Commit records the op as applied. An action's Commit is rejected with
//     CodeCompensated when a tombstone was written after its Admit: a
//     participant whose effect is transactional commits it in the same
//     transaction, and undoes it on that rejection.
type Fence interface {
	Admit(ctx context.Context, op Op) (Admission, error)
	Commit(ctx context.Context, op Op) error
}

// GuardAction wraps a participant's handler for a saga action: it applies
// each idempotency key once and refuses stale owners and actions whose
// compensation already ran. A duplicate is answered with the zero Resp: the
// saga engine only needs to know that it succeeded. Requests without saga
// metadata are handled unguarded.
//
// Admit, the handler and Commit are three separate steps: a participant that
// dies, or whose fence store fails over, after its effect and before Commit
// applies the effect again when the saga retries. Use the guards for effects
// that are idempotent by themselves; for exactly-once, commit the effect and
// the fence record in one transaction ([RedisFence.Apply], or the
// participant's own database transaction, as the inbox does).
func GuardAction[Req, Resp any](f Fence, h mediator.RequestHandler[Req, Resp]) mediator.RequestHandler[Req, Resp] {
	return guard(f, false, h)
}

// GuardCompensation wraps a participant's handler for a saga compensation:
// it runs at most once per key (after being committed), and not at all when
// the action never applied; in that case the action is refused if it
// arrives later.
func GuardCompensation[Req, Resp any](f Fence, h mediator.RequestHandler[Req, Resp]) mediator.RequestHandler[Req, Resp] {
	return guard(f, true, h)
}

func guard[Req, Resp any](f Fence, compensation bool, h mediator.RequestHandler[Req, Resp]) mediator.RequestHandler[Req, Resp] {
	return func(ctx context.Context, req Req) (Resp, error) {
		var zero Resp
		op, ok := OpFrom(ctx)
		if !ok {
			return h(ctx, req)
		}
		op.Compensation = compensation
		adm, err := f.Admit(ctx, op)
		if err != nil || adm != Apply {
			return zero, err
		}
		resp, err := h(ctx, req)
		if err != nil {
			return resp, err
		}
		if err := f.Commit(ctx, op); err != nil {
			return zero, err
		}
		return resp, nil
	}
}

// MemoryFence is an in-process Fence.
type MemoryFence struct {
	mu    sync.Mutex
	sagas map[string]*fenceState
}

type fenceState struct {
	epoch   uint64
	actions map[string]string // key -> "done" | "tomb"
	undone  map[string]bool
}

// NewMemoryFence returns an empty in-memory fence.
func NewMemoryFence() *MemoryFence { return &MemoryFence{sagas: map[string]*fenceState{}} }

var _ Fence = (*MemoryFence)(nil)

func (f *MemoryFence) state(saga string) *fenceState {
	s := f.sagas[saga]
	if s == nil {
		s = &fenceState{actions: map[string]string{}, undone: map[string]bool{}}
		f.sagas[saga] = s
	}
	return s
}

// Admit implements Fence.
func (f *MemoryFence) Admit(_ context.Context, op Op) (Admission, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.state(op.Saga)
	if err := checkEpoch(op, s.epoch); err != nil {
		return 0, err
	}
	s.epoch = max(s.epoch, op.Epoch)
	adm, err := decide(op, s.actions[op.Key], s.undone[op.Key])
	if adm == NothingToUndo {
		s.actions[op.Key], s.undone[op.Key] = "tomb", true
	}
	return adm, err
}

// checkEpoch rejects an op sent by an owner older than the newest one seen.
func checkEpoch(op Op, seen uint64) error {
	if op.Epoch != 0 && op.Epoch < seen {
		return catga.Reject(CodeStaleEpoch, "saga %s: epoch %d is older than %d", op.Saga, op.Epoch, seen)
	}
	return nil
}

// decide is the fence's rule for op given what is recorded for its key: the
// action's state ("", "done" or "tomb") and whether it was undone.
func decide(op Op, action string, undone bool) (Admission, error) {
	switch {
	case !op.Compensation && action == "tomb":
		return 0, catga.Reject(CodeCompensated, "saga %s: %s was compensated", op.Saga, op.Key)
	case !op.Compensation && action == "done", op.Compensation && undone:
		return Duplicate, nil
	case op.Compensation && action != "done":
		return NothingToUndo, nil
	default:
		return Apply, nil
	}
}

// Commit implements Fence.
func (f *MemoryFence) Commit(_ context.Context, op Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.state(op.Saga)
	if op.Compensation {
		s.undone[op.Key] = true
		return nil
	}
	if s.actions[op.Key] == "tomb" {
		return catga.Reject(CodeCompensated, "saga %s: %s was compensated", op.Saga, op.Key)
	}
	s.actions[op.Key] = "done"
	return nil
}
