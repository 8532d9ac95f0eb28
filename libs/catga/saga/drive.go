package saga

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// drive executes r until it is final or stuck, this peer loses it, or ctx
// ends (then the lease is released).
func (e *Engine) drive(ctx context.Context, r *run, rn runner) (Record, error) {
	rec := r.current()
	_, err := rn.decode(rec.Data)
	if err == nil {
		err = checkShape(&rec, rn.stepCount())
	}
	if err != nil {
		// Undecodable data cannot be acted on: an operator must look.
		_ = e.transition(ctx, r, func(rec *Record) {
			rec.State, rec.Error = sagastore.StateStuck, err.Error()
			rec.History = append(rec.History, event(rec.Step, sagastore.EventStuck, 0, err))
		})
		return r.snapshot(), err
	}
	for {
		if ctx.Err() != nil {
			return e.interrupted(ctx, r)
		}
		rec := r.current()
		var err error
		switch rec.State {
		case sagastore.StateRunning:
			err = e.advance(ctx, r, rn, rec)
		case sagastore.StateCompensating:
			err = e.compensate(ctx, r, rn, rec)
		default: // final or stuck
			return rec.Clone(), nil
		}
		if err != nil {
			return e.stop(r, err)
		}
	}
}

// advance executes the action of the current step and records its outcome:
// the next step started, the saga completed, or compensation begun.
func (e *Engine) advance(ctx context.Context, r *run, rn runner, rec Record) error {
	i, n := rec.Step, rn.stepCount()
	if rec.Steps[i].Status == sagastore.StepPending {
		if err := e.transition(ctx, r, func(rec *Record) { startStep(rec, i) }); err != nil {
			return err
		}
	}
	out, err := e.execute(ctx, r, rn, i, false)
	if err != nil || ctx.Err() != nil {
		return err
	}
	return e.transition(ctx, r, func(rec *Record) {
		st := &rec.Steps[i]
		st.Attempts += out.attempts
		if out.err == nil {
			st.Status, st.Result, rec.Data = sagastore.StepSucceeded, out.result, out.data
			rec.History = append(rec.History, event(i, sagastore.EventSucceeded, rec.Epoch, nil))
			if i+1 < n {
				rec.Step = i + 1
				startStep(rec, i+1)
			} else {
				rec.State = sagastore.StateCompleted
				rec.History = append(rec.History, event(i, sagastore.EventCompleted, 0, nil))
			}
			return
		}
		st.Status, st.Error, st.Rejected = sagastore.StepFailed, out.err.Error(), catga.IsRejection(out.err)
		if rej, ok := errors.AsType[*catga.RejectionError](out.err); ok {
			st.Code = rej.Code
		}
		rec.State, rec.Error = sagastore.StateCompensating, out.err.Error()
		rec.History = append(rec.History, event(i, sagastore.EventFailed, rec.Epoch, out.err), event(i, sagastore.EventCompensating, 0, nil))
	})
}

// compensate undoes the current step (or skips it when there is nothing to
// undo) and moves to the one before it; a compensation that keeps failing
// leaves the saga Stuck.
func (e *Engine) compensate(ctx context.Context, r *run, rn runner, rec Record) error {
	i := rec.Step
	if i < 0 || !needsCompensation(rn, &rec, i) {
		return e.transition(ctx, r, func(rec *Record) { skipCompensation(rec, i) })
	}
	if rec.Steps[i].Status != sagastore.StepCompensating {
		if err := e.transition(ctx, r, func(rec *Record) {
			rec.Steps[i].Status = sagastore.StepCompensating
			if rec.Steps[i].KeyEpoch == 0 {
				rec.Steps[i].KeyEpoch = rec.Epoch
			}
			rec.History = append(rec.History, event(i, sagastore.EventCompensating, rec.Epoch, nil))
		}); err != nil {
			return err
		}
	}
	out, err := e.execute(ctx, r, rn, i, true)
	if err != nil || ctx.Err() != nil {
		return err
	}
	return e.transition(ctx, r, func(rec *Record) {
		rec.Steps[i].Attempts += out.attempts
		if out.err != nil {
			rec.State, rec.Error = sagastore.StateStuck, out.err.Error()
			rec.Steps[i].Error = out.err.Error()
			rec.History = append(rec.History, event(i, sagastore.EventStuck, rec.Epoch, out.err))
			return
		}
		rec.Steps[i].Status, rec.Data = sagastore.StepCompensated, out.data
		rec.History = append(rec.History, event(i, sagastore.EventCompensated, rec.Epoch, nil))
		skipCompensation(rec, i)
	})
}

// execute calls step i's action or compensation and fires the reply hook.
// A participant's stale-epoch refusal means another peer owns the saga: the
// run stops without recording anything (the step may well have applied,
// under the new owner).
func (e *Engine) execute(ctx context.Context, r *run, rn runner, i int, compensation bool) (outcome, error) {
	out := e.call(ctx, r, rn, i, compensation)
	if ctx.Err() != nil {
		// Shutting down or fenced out: the outcome is unknown and not an
		// error of this run; the next owner repeats the call.
		return out, nil //nolint:nilerr // see above
	}
	var rej *catga.RejectionError
	if errors.As(out.err, &rej) && rej.Code == CodeStaleEpoch {
		return out, fmt.Errorf("%w: %s: %w", ErrLostOwnership, r.current().ID, out.err)
	}
	p := AfterActionReply
	if compensation {
		p = AfterCompensationReply
	}
	e.fire(ctx, p, r)
	return out, nil
}

// interrupted ends a run whose context ended: fenced out by the renewal, or
// shutting down (then the lease is released for another peer).
func (e *Engine) interrupted(ctx context.Context, r *run) (Record, error) {
	if cause := context.Cause(ctx); errors.Is(cause, ErrLostOwnership) {
		return r.snapshot(), cause
	}
	e.release(r)
	return r.snapshot(), ctx.Err()
}

// checkShape rejects a stored record that does not fit the definition (it
// was changed, or the record was tampered with) instead of indexing out of
// range on it.
func checkShape(rec *Record, n int) error {
	if len(rec.Steps) != n || rec.Step < 0 || rec.Step >= n {
		return catga.Permanent(fmt.Errorf("%w: saga %s has %d steps at step %d, definition %s has %d",
			ErrUnknownSaga, rec.ID, len(rec.Steps), rec.Step, rec.Name, n))
	}
	return nil
}

func startStep(rec *Record, i int) {
	rec.Steps[i].Status, rec.Steps[i].KeyEpoch = sagastore.StepStarted, rec.Epoch
	rec.History = append(rec.History, event(i, sagastore.EventStarted, rec.Epoch, nil))
}

// skipCompensation moves past step i; below step 0 the saga is Compensated.
func skipCompensation(rec *Record, i int) {
	rec.Step = i - 1
	if rec.Step < 0 {
		rec.Step = 0
		rec.State = sagastore.StateCompensated
		rec.History = append(rec.History, event(0, sagastore.EventCompensatedAll, 0, nil))
	}
}

// needsCompensation: step i has a compensation and started. A rejected
// action did not apply, but is compensated too: the same message,
// redelivered or replayed once the participant's state has changed (money
// deposited, stock added), could apply after the saga ended. Its
// compensation reaches the participant's fence as nothing to undo, and the
// tombstone the fence writes refuses that message for good.
func needsCompensation(rn runner, rec *Record, i int) bool {
	if !rn.hasCompensation(i) {
		return false
	}
	switch st := rec.Steps[i]; st.Status {
	case sagastore.StepSucceeded, sagastore.StepStarted, sagastore.StepCompensating, sagastore.StepFailed:
		return true
	}
	return false
}

// stop ends a run after a failed transition. Losing ownership is normal (the
// new owner continues); any other failure releases the lease.
func (e *Engine) stop(r *run, err error) (Record, error) {
	if !errors.Is(err, ErrLostOwnership) {
		e.release(r)
	}
	return r.snapshot(), err
}

func (e *Engine) fire(ctx context.Context, p Point, r *run) {
	for _, h := range e.hooks {
		rec := r.snapshot()
		h(ctx, p, &rec)
	}
}

func event(step int, what sagastore.EventKind, epoch uint64, err error) sagastore.Event {
	ev := sagastore.Event{At: time.Now().UTC(), Step: step, What: what, Epoch: epoch}
	if err != nil {
		ev.Error = err.Error()
	}
	return ev
}
