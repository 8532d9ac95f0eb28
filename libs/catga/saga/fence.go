package saga

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
)

// Rejection codes a Fence answers with.
const (
	CodeStaleEpoch  = "stale_epoch" // the sender is an old owner of the saga
	CodeCompensated = "compensated" // the action's compensation already ran
)

// ErrInProgress: another delivery of the same step message holds the
// fence's reservation and is being applied. It is retryable: the sender
// retries and then gets the outcome of that delivery.
var ErrInProgress = errors.New("catga: saga step message being applied by another delivery")

// Op is one step message as a participant's fence sees it.
type Op struct {
	Saga         string // saga id (Metadata.CorrelationID)
	Key          string // the action's idempotency key, without UndoSuffix
	Epoch        uint64 // sender's fencing epoch; 0 is unfenced
	Compensation bool
	// Token identifies this delivery: the reservation Admit makes for it
	// is held by Token, and only Commit or Abort with the same Token
	// release it. The guards set a random one.
	Token string
}

// OpFrom reads the Op of the step message being handled from ctx's metadata.
func OpFrom(ctx context.Context) (Op, bool) {
	md, ok := catga.MetadataFrom(ctx)
	if !ok || md.Key() == "" {
		return Op{}, false
	}
	op := Op{Saga: md.CorrelationID, Key: md.Key(), Epoch: md.Epoch}
	if k, round, undo := cutUndo(op.Key); undo && (round == "" || isDigits(round)) {
		op.Key, op.Compensation = k, true
	}
	if op.Saga == "" {
		op.Saga = op.Key
	}
	return op, true
}

// cutUndo splits a compensation key (UndoKey) into the action key and the
// retry round ("" for round 0).
func cutUndo(key string) (action, round string, ok bool) {
	i := strings.LastIndex(key, UndoSuffix)
	if i < 0 {
		return key, "", false
	}
	rest := key[i+len(UndoSuffix):]
	if rest == "" {
		return key[:i], "", true
	}
	if r, found := strings.CutPrefix(rest, "."); found {
		return key[:i], r, true
	}
	return key, "", false
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Admission is a Fence's decision on an Op.
type Admission int

const (
	// Apply: apply the op now, then Commit it (or Abort it if applying
	// failed). The fence reserved the key for this delivery.
	Apply Admission = iota
	// Duplicate: the op was applied and committed before; reply success
	// without applying it again.
	Duplicate
	// NothingToUndo: a compensation whose action never committed. The
	// fence wrote a tombstone (the action is refused from now on) and
	// recorded the compensation; reply success without undoing anything.
	NothingToUndo
)

// ActionState is what a fence records about a key's action.
type ActionState string

// Action states.
const (
	ActionNone ActionState = ""
	ActionDone ActionState = "done"
	ActionTomb ActionState = "tomb" // compensated before it applied: refused for good
)

// KeyState is what a fence holds for one key when it decides on an op.
type KeyState struct {
	Action ActionState
	Undone bool // the compensation committed
	// ActionHolder and UndoHolder are the tokens of live (unexpired)
	// reservations of the action and the compensation; "" if none.
	ActionHolder, UndoHolder string
}

// Decide states the fence rules, shared by every Fence implementation: the
// decision on op given the newest epoch seen for its saga and the state of
// its key. On Apply the caller reserves the key for op.Token (or, applying
// transactionally, applies and commits); on NothingToUndo it writes the
// tombstone and records the compensation.
//
//   - An op whose Epoch is older than seen is refused (CodeStaleEpoch). Equal
//     epochs are accepted: one owner sends many messages in its epoch, and
//     two owners never share one (claims are compare-and-set on the saga
//     record).
//   - An action is refused (CodeCompensated) after a tombstone, Duplicate
//     once committed, and ErrInProgress while another delivery holds it.
//   - A compensation is Duplicate once committed, and ErrInProgress while
//     the action or another compensation delivery is being applied: until
//     the action's outcome is known, nothing can be decided. It is Apply
//     when the action committed and NothingToUndo otherwise.
func Decide(op Op, seen uint64, k KeyState) (Admission, error) {
	if op.Epoch != 0 && op.Epoch < seen {
		return 0, catga.Reject(CodeStaleEpoch, "saga %s: epoch %d is older than %d", op.Saga, op.Epoch, seen)
	}
	if !op.Compensation {
		switch {
		case k.Action == ActionTomb:
			return 0, rejectCompensated(op)
		case k.Action == ActionDone:
			return Duplicate, nil
		case k.ActionHolder != "" && k.ActionHolder != op.Token:
			return 0, fmt.Errorf("%w: %s", ErrInProgress, op.Key)
		}
		return Apply, nil
	}
	switch {
	case k.Undone:
		return Duplicate, nil
	case k.ActionHolder != "", k.UndoHolder != "" && k.UndoHolder != op.Token:
		return 0, fmt.Errorf("%w: %s%s", ErrInProgress, op.Key, UndoSuffix)
	case k.Action == ActionDone:
		return Apply, nil
	}
	return NothingToUndo, nil
}

// staleCommit is a Commit's answer once a newer owner reached the fence
// after op was admitted: the effect is recorded (it happened: a later
// delivery of the key is a Duplicate, a compensation undoes it), and the
// sender is told it was superseded.
func staleCommit(op Op, seen uint64) error {
	if op.Epoch != 0 && op.Epoch < seen {
		return catga.Reject(CodeStaleEpoch, "saga %s: %s committed by epoch %d, superseded by %d", op.Saga, op.Key, op.Epoch, seen)
	}
	return nil
}

func rejectCompensated(op Op) error {
	return catga.Reject(CodeCompensated, "saga %s: %s was compensated", op.Saga, op.Key)
}

// Fence is the participant side of saga fencing and idempotency, used by
// [GuardAction] and [GuardCompensation]. [MemoryFence], redisfence.Fence
// and saga/storefence's Fence implement it and pass one conformance suite
// (saga/fencetest); the last two also offer Apply, which commits an effect
// with its fence record for exactly-once.
//
// Contract, atomic per saga:
//   - Admit decides on op by the rules of [Decide], records a newer epoch
//     than seen so far (also when the op is refused or must wait), reserves the key for op.Token when the decision is
//     Apply (the reservation expires after a while, so that a participant
//     that died mid-apply does not block the key for good), and writes the
//     tombstone on NothingToUndo.
//   - Commit records the op as applied and releases the reservation. An
//     action's Commit is refused with CodeCompensated when a tombstone was
//     written meanwhile (possible only once its reservation expired): the
//     effect must then be undone by the participant. A Commit whose Epoch
//     is older than the newest seen (a newer owner took the saga over while
//     op was applied) records the op all the same, the effect being real,
//     and is refused with CodeStaleEpoch: the sender is no longer the
//     owner. Epochs are never shared: every acquisition of a saga (Create,
//     takeover, operator Retry and ForceCompensate) writes a new epoch with
//     compare-and-set on the saga record, so an equal epoch is the same
//     owner.
//   - Abort releases op's reservation, if op.Token still holds it.
type Fence interface {
	Admit(ctx context.Context, op Op) (Admission, error)
	Commit(ctx context.Context, op Op) error
	Abort(ctx context.Context, op Op) error
}

// GuardOption configures a guard.
type GuardOption[Req any] func(*guardOptions[Req])

type guardOptions[Req any] struct {
	undo func(context.Context, Req) error
}

// UndoLateAction sets how a guarded action undoes its effect when its Commit
// is refused because the compensation ran meanwhile (the handler outlived
// its reservation). Without it the guard reports the refusal and the effect
// stays applied.
func UndoLateAction[Req any](undo func(ctx context.Context, req Req) error) GuardOption[Req] {
	return func(o *guardOptions[Req]) { o.undo = undo }
}

// GuardAction wraps a participant's handler for a saga action: it applies
// each idempotency key once, also when deliveries of it arrive concurrently,
// and refuses stale owners and actions whose compensation already ran. A
// duplicate is answered with the zero Resp: the saga engine only needs to
// know that it succeeded. Requests without saga metadata are handled
// unguarded.
//
// Admit, the handler and Commit are three separate steps: a participant that
// dies, or whose fence store fails over, after its effect and before Commit
// applies the effect again when the saga retries (after the reservation
// expired), and so does a handler that outlives the reservation (see
// [WithReservation]): the reservation is not renewed while it runs. Use the guards for effects that are idempotent by themselves;
// for exactly-once, commit the effect with its fence record, in one
// transaction: saga/storefence's Fence.Apply for event-sourced participants
// (the effect's appends and the record in the event store's transaction),
// redisfence.Fence.Apply for effects that are Redis writes, or the
// participant's own database transaction, as the inbox does.
func GuardAction[Req, Resp any](f Fence, h mediator.RequestHandler[Req, Resp], opts ...GuardOption[Req]) mediator.RequestHandler[Req, Resp] {
	return guard(f, false, h, opts)
}

// GuardCompensation wraps a participant's handler for a saga compensation:
// it runs at most once per key (after being committed), never while the
// action is being applied, and not at all when the action never applied;
// in that case the action is refused if it arrives later.
func GuardCompensation[Req, Resp any](f Fence, h mediator.RequestHandler[Req, Resp]) mediator.RequestHandler[Req, Resp] {
	return guard(f, true, h, nil)
}

func guard[Req, Resp any](f Fence, compensation bool, h mediator.RequestHandler[Req, Resp], opts []GuardOption[Req]) mediator.RequestHandler[Req, Resp] {
	var o guardOptions[Req]
	for _, opt := range opts {
		opt(&o)
	}
	return func(ctx context.Context, req Req) (Resp, error) {
		var zero Resp
		op, ok := OpFrom(ctx)
		if !ok {
			return h(ctx, req)
		}
		op.Compensation, op.Token = compensation, uuid.NewString()
		adm, err := f.Admit(ctx, op)
		if err != nil || adm != Apply {
			return zero, err
		}
		resp, err := safeCall(ctx, h, req)
		if err != nil {
			if aerr := f.Abort(context.WithoutCancel(ctx), op); aerr != nil {
				err = errors.Join(err, aerr) // the reservation expires on its own
			}
			return resp, err
		}
		if err := f.Commit(ctx, op); err != nil {
			var rej *catga.RejectionError
			if errors.As(err, &rej) && rej.Code == CodeStaleEpoch {
				// Recorded as applied: a newer owner's delivery of this key
				// (perhaps answered from a transport's reply cache) must
				// learn that it succeeded, not that someone was stale.
				return resp, nil
			}
			if errors.As(err, &rej) && rej.Code == CodeCompensated && o.undo != nil {
				if uerr := o.undo(ctx, req); uerr != nil {
					return zero, fmt.Errorf("catga: saga guard: undo of a late action: %w", errors.Join(err, uerr))
				}
			}
			return zero, err
		}
		return resp, nil
	}
}

// safeCall runs h, turning a panic into a permanent error.
func safeCall[Req, Resp any](ctx context.Context, h mediator.RequestHandler[Req, Resp], req Req) (resp Resp, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = catga.Permanent(fmt.Errorf("catga: saga participant panicked: %v", p))
		}
	}()
	return h(ctx, req)
}
