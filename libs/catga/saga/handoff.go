package saga

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// Operator is the operator API of a saga store for tools that run no saga
// themselves (the catga command-line tool, a console): it reads sagas and
// hands Retry and ForceCompensate to the peers' recovery, so it needs no
// saga definition. An [Engine] does the same on the peer that calls it.
//
// Retry and ForceCompensate make the transition the Engine's would (the
// same state checks, ErrInvalidState when the state does not allow it),
// as the owner given to [NewOperator] with a new epoch, which fences out
// the saga's current owner, and with a lease that has already expired:
// the next recovery pass of any peer that knows the saga claims it and
// compensates it. They return once that is written; [Engine.Await] or
// Get show what happened next.
type Operator struct {
	store sagastore.Store
	owner string
	now   func() time.Time
}

// NewOperator returns the operator API over store, writing history
// entries as owner (e.g. "catga-cli@host").
func NewOperator(store sagastore.Store, owner string) *Operator {
	return &Operator{store: store, owner: owner, now: time.Now}
}

// Get returns a saga with its step history.
func (o *Operator) Get(ctx context.Context, id string) (Record, error) { return o.store.Get(ctx, id) }

// ListPage returns a page of the sagas in state; see [Engine.ListPage].
func (o *Operator) ListPage(ctx context.Context, state State, cursor string, limit int) (sagastore.Page, error) {
	return o.store.ListPage(ctx, state, cursor, limit)
}

// Retry hands a Stuck saga's compensation, with fresh attempts, to the
// peers' recovery.
func (o *Operator) Retry(ctx context.Context, id string) (Record, error) {
	return o.handOff(ctx, id, sagastore.EventRetried, retry)
}

// ForceCompensate stops a Running (or Stuck) saga and hands its
// compensation to the peers' recovery.
func (o *Operator) ForceCompensate(ctx context.Context, id string) (Record, error) {
	return o.handOff(ctx, id, sagastore.EventForcedCompensation, forceCompensate)
}

// handOff applies fn to the saga and writes it with a new epoch and an
// expired lease, its due entry first (as a claim does), so that it stays
// recoverable whatever fails after.
func (o *Operator) handOff(ctx context.Context, id string, what sagastore.EventKind, fn func(*Record) error) (Record, error) {
	for range 10 {
		rec, err := o.store.Get(ctx, id)
		if err != nil {
			return Record{}, err
		}
		if rec.Step < 0 || rec.Step >= len(rec.Steps) {
			return rec, fmt.Errorf("%w: saga %s is at step %d of %d", sagastore.ErrCorrupt, id, rec.Step, len(rec.Steps))
		}
		next := rec.Clone()
		if err := fn(&next); err != nil {
			return rec, err
		}
		now := o.now().UTC()
		prev := next.Owner
		next.Owner, next.Epoch, next.LeaseUntil, next.UpdatedAt = o.owner, rec.Epoch+1, now, now
		next.History = append(next.History, sagastore.Event{At: now, Step: next.Step, What: what, Epoch: next.Epoch, Owner: o.owner, Error: "from " + prev})
		if err := o.store.Index(ctx, sagastore.Entry{ID: id, Epoch: next.Epoch, At: now}); err != nil {
			return rec, err
		}
		v, err := o.store.Update(ctx, next)
		if errors.Is(err, sagastore.ErrConflict) {
			continue // the saga moved on meanwhile: decide again (recovery drops the entry)
		}
		if err != nil {
			return rec, err
		}
		next.Version = v
		return next, nil
	}
	return Record{}, fmt.Errorf("catga: saga %s: %s: %w", id, what, sagastore.ErrConflict)
}
