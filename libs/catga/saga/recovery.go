package saga

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// renewConcurrency bounds the lease renewals written at once: one write
// each, so a slot is held at most one write timeout.
const renewConcurrency = 256

// recoveryLoop claims sagas whose lease expired and drops finished sagas
// from the due index.
func (e *Engine) recoveryLoop() {
	t := time.NewTicker(e.every)
	defer t.Stop()
	for {
		e.recoverOnce(e.ctx)
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renewalLoop renews this peer's leases. It is a loop of its own so that a
// slow recovery pass (a Due scan, claims) never delays a renewal.
func (e *Engine) renewalLoop() {
	t := time.NewTicker(e.every)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		e.renewOnce(e.ctx)
	}
}

// renewOnce renews, concurrently, the leases of this peer's sagas that are
// past half their TTL. A saga whose transition is being written (its mutex
// held, possibly by a persist retrying through an outage) is skipped: that
// write renews the lease itself, and waiting for it would hold up every
// other saga's renewal.
func (e *Engine) renewOnce(ctx context.Context) {
	e.mu.Lock()
	runs := slices.Collect(maps.Values(e.running))
	e.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, renewConcurrency)
	now := e.now()
	for _, r := range runs {
		if !r.mu.TryLock() {
			continue
		}
		if !e.renewDue(&r.rec, now) {
			r.mu.Unlock()
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer r.mu.Unlock() // locked by TryLock above
			e.renew(ctx, r)
		})
	}
	wg.Wait()
}

// renewDue: the lease is active, past half its TTL, and the saga is not
// Running a TTL past its deadline (its owner should have moved it to
// compensation by then: if it has not, another peer may take it over).
func (e *Engine) renewDue(rec *Record, now time.Time) bool {
	if !rec.State.Active() || rec.Owner != e.owner || rec.LeaseUntil.Sub(now) >= e.ttl/2 {
		return false
	}
	return rec.State != sagastore.StateRunning || rec.Deadline.IsZero() || now.Before(rec.Deadline.Add(e.ttl))
}

// renew writes r's lease (r.mu held). A conflict means another peer owns the
// saga: the run's step calls are cancelled.
func (e *Engine) renew(ctx context.Context, r *run) {
	next := r.rec.Clone()
	now := e.now()
	next.LeaseUntil, next.UpdatedAt = now.Add(e.ttl), now
	wctx, cancel := e.writeContext()
	defer cancel()
	v, err := e.store.Update(wctx, next)
	switch {
	case err == nil:
		next.Version = v
		r.rec, r.unsure = next, nil
	case errors.Is(err, sagastore.ErrConflict) && e.adoptUnsure(ctx, r):
		// An earlier renewal did apply: the next tick renews from it.
	case errors.Is(err, sagastore.ErrConflict), errors.Is(err, sagastore.ErrNotFound):
		if r.stop != nil {
			r.stop(fmt.Errorf("%w: %s: %w", ErrLostOwnership, next.ID, err))
		}
	default:
		r.unsure = &next
		e.log.Warn("catga: saga lease renewal failed", "saga", next.ID, "err", err)
	}
}

// adoptUnsure (r.mu held) checks whether the stored record is r's renewal
// whose reply was lost, and if so adopts it, so that the caller can write
// again from its version.
func (e *Engine) adoptUnsure(ctx context.Context, r *run) bool {
	u := r.unsure
	if u == nil {
		return false
	}
	r.unsure = nil
	gctx, cancel := e.writeContext()
	defer cancel()
	cur, err := e.store.Get(gctx, u.ID)
	if err != nil || cur.Owner != u.Owner || cur.Epoch != u.Epoch || !cur.UpdatedAt.Equal(u.UpdatedAt) {
		return false
	}
	r.rec = cur
	return true
}

// recoverOnce does one pass of the recovery loop.
func (e *Engine) recoverOnce(ctx context.Context) {
	e.mu.Lock()
	finished := e.finished
	e.finished = nil
	e.mu.Unlock()
	if len(finished) > 0 {
		if err := e.store.Unindex(ctx, finished...); err != nil {
			e.log.Warn("catga: saga unindex failed", "err", err)
			e.mu.Lock()
			e.finished = append(e.finished, finished...)
			e.mu.Unlock()
		}
	}
	entries, err := e.store.Due(ctx, e.now(), 256)
	if err != nil {
		e.log.Warn("catga: saga recovery: due", "err", err)
		return
	}
	for _, ent := range entries {
		if ctx.Err() != nil {
			return
		}
		e.recoverSaga(ctx, ent)
	}
}

func (e *Engine) recoverSaga(ctx context.Context, ent sagastore.Entry) {
	e.mu.Lock()
	local := e.running[ent.ID]
	e.mu.Unlock()
	if local != nil {
		// A run writing a transition (possibly retrying through an outage
		// for a whole TTL) holds its mutex: it is alive, and waiting for it
		// would stall the recovery of every other saga. Look next pass.
		if !local.mu.TryLock() {
			return
		}
		cur := sagastore.Entry{ID: ent.ID, Epoch: local.rec.Epoch, At: local.rec.LeaseUntil}
		active := local.rec.State.Active()
		local.mu.Unlock()
		if active && cur.Epoch == ent.Epoch {
			_ = e.store.Index(ctx, cur)
			return
		}
	}
	rec, err := e.store.Get(ctx, ent.ID)
	switch {
	case errors.Is(err, sagastore.ErrNotFound):
		_ = e.store.Unindex(ctx, ent)
		return
	case errors.Is(err, sagastore.ErrCorrupt):
		e.log.Error("catga: corrupt saga record dropped from recovery", "saga", ent.ID, "err", err)
		_ = e.store.Unindex(ctx, ent)
		return
	case err != nil:
		e.log.Warn("catga: saga recovery: get", "saga", ent.ID, "err", err)
		return
	}
	now := e.now()
	if ent.Epoch == 0 {
		e.recoverLegacy(ctx, ent, rec, now)
		return
	}
	switch {
	case ent.Epoch < rec.Epoch:
		// An older owner's entry: the claim of the current epoch indexed
		// its own before writing the record.
		_ = e.store.Unindex(ctx, ent)
		return
	case !rec.State.Active():
		// A newer entry than the record belongs to a claim in progress
		// (indexed, record not yet written): it is dropped only once long
		// overdue, when that claim has finished or its claimer is gone.
		if ent.Epoch == rec.Epoch || ent.At.Before(now.Add(-2*e.ttl)) {
			_ = e.store.Unindex(ctx, ent)
		}
		return
	case rec.LeaseUntil.After(now):
		_ = e.store.Index(ctx, sagastore.Entry{ID: ent.ID, Epoch: ent.Epoch, At: rec.LeaseUntil})
		return
	}
	e.claimAndRun(ctx, ent, rec)
}

// claimAndRun claims an expired saga found through ent and executes it.
func (e *Engine) claimAndRun(ctx context.Context, ent sagastore.Entry, rec Record) {
	e.mu.Lock()
	rn := e.defs[rec.Name]
	e.mu.Unlock()
	if rn == nil || rn.stepCount() != len(rec.Steps) {
		// Another kind of peer may know it; look again later.
		_ = e.store.Index(ctx, sagastore.Entry{ID: ent.ID, Epoch: ent.Epoch, At: e.now().Add(e.ttl)})
		return
	}
	if _, err := e.claim(ctx, &rec, sagastore.EventClaimed); err != nil {
		return
	}
	if ent.Epoch < rec.Epoch {
		_ = e.store.Unindex(ctx, ent) // the claim indexed the new epoch
	}
	e.spawn(&run{rec: rec}, rn)
}

// recoverLegacy handles an entry written before entries carried epochs: it
// is replaced by an entry of the record's epoch (or by the claim's).
func (e *Engine) recoverLegacy(ctx context.Context, ent sagastore.Entry, rec Record, now time.Time) {
	switch {
	case !rec.State.Active():
	case rec.LeaseUntil.After(now):
		if err := e.store.Index(ctx, sagastore.Entry{ID: rec.ID, Epoch: rec.Epoch, At: rec.LeaseUntil}); err != nil {
			return
		}
	default:
		e.claimAndRun(ctx, ent, rec)
		return
	}
	_ = e.store.Unindex(ctx, ent)
}
