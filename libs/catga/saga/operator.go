package saga

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/backoff"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// RecoverNow runs one pass of the recovery loop on the calling goroutine.
func (e *Engine) RecoverNow(ctx context.Context) { e.recoverOnce(ctx) }

// Get returns a saga with its step history.
func (e *Engine) Get(ctx context.Context, id string) (Record, error) { return e.store.Get(ctx, id) }

// List returns up to limit sagas in state (0: no limit), oldest first;
// final ones in the order they finished, within the store's retention.
func (e *Engine) List(ctx context.Context, state State, limit int) ([]Record, error) {
	return e.store.List(ctx, state, limit)
}

// ListFinished returns a page of the sagas that finished in state
// (Completed or Compensated), oldest first, from cursor ("" for the first
// page; then the previous page's Next). See [sagastore.Page] for what
// paging guarantees while sagas keep finishing.
func (e *Engine) ListFinished(ctx context.Context, state State, cursor string, limit int) (sagastore.Page, error) {
	return e.store.ListFinished(ctx, state, cursor, limit)
}

// ListPage returns a page of the sagas in state, any state, from cursor
// ("" for the first page; then the previous page's Next). See
// [sagastore.Store] (ListPage) for what paging guarantees.
func (e *Engine) ListPage(ctx context.Context, state State, cursor string, limit int) (sagastore.Page, error) {
	return e.store.ListPage(ctx, state, cursor, limit)
}

// awaitPoll is Await's polling schedule: quick for short sagas, backing
// off for long ones.
var awaitPoll = backoff.Policy{Initial: 2 * time.Millisecond, Max: 200 * time.Millisecond, Jitter: 0.1}

// Await polls the store until saga id is Completed, Compensated or Stuck,
// or ctx ends.
func (e *Engine) Await(ctx context.Context, id string) (Record, error) {
	for attempt := 1; ; attempt++ {
		rec, err := e.store.Get(ctx, id)
		if err == nil && !rec.State.Active() {
			return rec, nil
		}
		if err != nil && !catga.IsRetryable(err) && !errors.Is(err, sagastore.ErrNotFound) {
			return rec, err
		}
		if !backoff.Sleep(ctx, awaitPoll.Delay(attempt)) {
			if err != nil {
				return rec, fmt.Errorf("catga: await saga %s (last read: %w): %w", id, err, ctx.Err())
			}
			return rec, fmt.Errorf("catga: await saga %s (state %s): %w", id, rec.State, ctx.Err())
		}
	}
}

// Retry resumes a Stuck saga's compensation on this peer with fresh
// attempts.
func (e *Engine) Retry(ctx context.Context, id string) error {
	return e.operate(ctx, id, sagastore.EventRetried, retry)
}

// ForceCompensate stops a Running (or Stuck) saga and compensates it on this
// peer. The current owner is fenced out by the new epoch.
func (e *Engine) ForceCompensate(ctx context.Context, id string) error {
	return e.operate(ctx, id, sagastore.EventForcedCompensation, forceCompensate)
}

// retry is Retry's transition: ErrInvalidState unless rec is Stuck.
func retry(rec *Record) error {
	if rec.State != sagastore.StateStuck {
		return fmt.Errorf("%w: %s is %s, not stuck", ErrInvalidState, rec.ID, rec.State)
	}
	rec.State, rec.Error = sagastore.StateCompensating, ""
	// A new compensation key: the participant is asked anew, not
	// answered from a transport's reply cache.
	rec.Steps[rec.Step].UndoRound++
	return nil
}

// forceCompensate is ForceCompensate's transition: ErrInvalidState unless
// rec is Running or Stuck.
func forceCompensate(rec *Record) error {
	if rec.State != sagastore.StateRunning && rec.State != sagastore.StateStuck {
		return fmt.Errorf("%w: %s is %s", ErrInvalidState, rec.ID, rec.State)
	}
	if rec.State == sagastore.StateStuck {
		rec.Steps[rec.Step].UndoRound++ // as Retry: ask the participant anew
	}
	rec.State, rec.Error = sagastore.StateCompensating, "compensation forced by operator"
	return nil
}

func (e *Engine) operate(ctx context.Context, id string, what sagastore.EventKind, fn func(*Record) error) error {
	for attempt := 0; attempt < 10; attempt++ {
		rec, err := e.store.Get(ctx, id)
		if err != nil {
			return err
		}
		e.mu.Lock()
		rn := e.defs[rec.Name]
		e.mu.Unlock()
		if rn == nil {
			return fmt.Errorf("%w: %s", ErrUnknownSaga, rec.Name)
		}
		if err := checkShape(&rec, rn.stepCount()); err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		if _, err := e.claim(ctx, &rec, what); errors.Is(err, sagastore.ErrConflict) {
			continue // the saga moved on meanwhile: decide again
		} else if err != nil {
			return err
		}
		if !e.spawn(&run{rec: rec}, rn) {
			return ErrClosed
		}
		return nil
	}
	return fmt.Errorf("catga: saga %s: %s: %w", id, what, sagastore.ErrConflict)
}
