package saga

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/catga-go/catga/libs/catga/internal/backoff"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// persistRetry is the schedule of persist's retries through a store outage.
var persistRetry = backoff.Policy{Initial: 20 * time.Millisecond, Max: 250 * time.Millisecond, Jitter: 0.2}

// transition applies fn to a copy of the run's record, renews the lease and
// persists it with compare-and-set; the run adopts the copy only once the
// store accepted it. A failed write therefore leaves the run exactly as the
// store last confirmed it (active, indexed), never finished on this peer
// only, which would drop it from recovery while the store says Running.
// Store failures are retried for up to a lease TTL; a conflict means another
// peer owns the saga now (ErrLostOwnership).
func (e *Engine) transition(ctx context.Context, r *run, fn func(*Record)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := fork(r.rec)
	fn(&next)
	err := e.persist(ctx, &next)
	if errors.Is(err, ErrLostOwnership) && e.adoptUnsure(ctx, r) {
		next.Version = r.rec.Version // a renewal applied unseen: write over it
		err = e.persist(ctx, &next)
	}
	if err != nil {
		return err
	}
	r.rec, r.unsure = next, nil
	for _, h := range e.hooks {
		rec := r.rec.Clone()
		h(ctx, AfterPersist, &rec)
	}
	return nil
}

// fork returns a copy of rec that a transition may modify without touching
// rec: Steps is copied (modified in place), History is clipped so that an
// append reallocates instead of writing into rec's array, and Data is
// shared (transitions replace it, never write into it).
func fork(rec Record) Record {
	rec.Steps = slices.Clone(rec.Steps)
	rec.History = slices.Clip(rec.History)
	return rec
}

// persist writes rec (r.mu held) and updates its Version. Its writes outlive
// ctx (a transition whose outcome is known is worth recording while
// shutting down) but not Close's deadline.
func (e *Engine) persist(ctx context.Context, rec *Record) error {
	now := e.now()
	rec.UpdatedAt = now
	if rec.State.Active() {
		rec.LeaseUntil = now.Add(e.ttl)
	}
	// Bounded by the lease: past it another peer may own the saga anyway.
	giveUp := time.Now().Add(e.ttl)
	ambiguous := false
	for attempt := 1; ; attempt++ {
		wctx, cancel := e.writeContext()
		v, err := e.store.Update(wctx, *rec)
		cancel()
		switch {
		case err == nil:
			rec.Version = v
			return nil
		case errors.Is(err, sagastore.ErrConflict) && ambiguous:
			// An earlier attempt may have been applied with its reply lost:
			// if the stored record is ours, it was.
			gctx, cancel := e.writeContext()
			cur, gerr := e.store.Get(gctx, rec.ID)
			cancel()
			if gerr == nil && cur.Owner == rec.Owner && cur.Epoch == rec.Epoch && cur.UpdatedAt.Equal(rec.UpdatedAt) {
				rec.Version = cur.Version
				return nil
			}
			return fmt.Errorf("%w: %s", ErrLostOwnership, rec.ID)
		case errors.Is(err, sagastore.ErrConflict), errors.Is(err, sagastore.ErrNotFound):
			return fmt.Errorf("%w: %s: %w", ErrLostOwnership, rec.ID, err)
		}
		ambiguous = true
		if time.Now().After(giveUp) || e.hard.Err() != nil {
			return fmt.Errorf("catga: saga %s: persist: %w", rec.ID, err)
		}
		e.log.Debug("catga: saga persist retry", "saga", rec.ID, "err", err)
		backoff.Sleep(e.hard, persistRetry.Delay(attempt))
	}
}

// writeContext bounds one store write: half a TTL, and Close's deadline.
// It does not end with the run's context: a write whose outcome is known is
// worth finishing while shutting down.
func (e *Engine) writeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.hard, e.ttl/2)
}

// release gives up the lease so another peer can claim the saga at once.
func (e *Engine) release(r *run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.rec.State.Active() || r.rec.Owner != e.owner {
		return
	}
	ctx, cancel := e.writeContext()
	defer cancel()
	rec := r.rec.Clone()
	now := e.now()
	rec.LeaseUntil, rec.UpdatedAt = now, now
	rec.History = append(rec.History, sagastore.Event{At: now, Step: rec.Step, What: sagastore.EventReleased, Epoch: rec.Epoch, Owner: e.owner})
	v, err := e.store.Update(ctx, rec)
	if err != nil {
		e.log.Warn("catga: saga lease release failed", "saga", rec.ID, "err", err)
		return
	}
	rec.Version = v
	r.rec = rec
	if err := e.store.Index(ctx, sagastore.Entry{ID: rec.ID, Epoch: rec.Epoch, At: now}); err != nil {
		e.log.Warn("catga: saga index after release failed", "saga", rec.ID, "err", err)
	}
}

// claim takes ownership of rec with a new epoch, fencing out the previous
// owner, and persists it. The new epoch's due entry is written first: a
// claimer that dies right after its write leaves the saga recoverable.
func (e *Engine) claim(ctx context.Context, rec *Record, what sagastore.EventKind) (*Record, error) {
	now := e.now()
	prev := rec.Owner
	next := rec.Clone()
	next.Owner, next.Epoch, next.LeaseUntil, next.UpdatedAt = e.owner, rec.Epoch+1, now.Add(e.ttl), now
	next.History = append(next.History, sagastore.Event{At: now, Step: next.Step, What: what, Epoch: next.Epoch, Owner: e.owner, Error: "from " + prev})
	ent := sagastore.Entry{ID: next.ID, Epoch: next.Epoch, At: next.LeaseUntil}
	if err := e.store.Index(ctx, ent); err != nil {
		return nil, err
	}
	v, err := e.store.Update(ctx, next)
	if err != nil {
		return nil, err
	}
	next.Version = v
	// Recovery drops an entry newer than its record once it is two TTLs
	// overdue; a claim that took that long indexes again.
	if e.now().Sub(now) > e.ttl {
		if err := e.store.Index(ctx, ent); err != nil {
			e.log.Warn("catga: saga index after claim failed", "saga", next.ID, "err", err)
		}
	}
	*rec = next
	return rec, nil
}
