package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

type (
	// Record is a saga's persisted state and history.
	Record = sagastore.Record
	// State is a saga's state.
	State = sagastore.State
)

// Hook points, where a [Hook] runs. They exist for fault injection (tests
// kill a peer there) and observation.
type Point string

const (
	// AfterActionReply: a step's action returned, its outcome not persisted.
	AfterActionReply Point = "after-action-reply"
	// AfterCompensationReply: a compensation returned, not persisted.
	AfterCompensationReply Point = "after-compensation-reply"
	// AfterPersist: a transition was persisted.
	AfterPersist Point = "after-persist"
)

// Hook observes the engine at a [Point]. It runs on the saga's goroutine and
// must not keep rec.
type Hook func(ctx context.Context, p Point, rec *Record)

// Option configures an Engine.
type Option func(*Engine)

// WithOwner sets this peer's owner id (default: a random UUID).
func WithOwner(id string) Option { return func(e *Engine) { e.owner = id } }

// WithLeaseTTL sets how long a lease lasts without renewal (default 5s).
// Another peer takes over a saga at most about this long after its owner died.
func WithLeaseTTL(d time.Duration) Option { return func(e *Engine) { e.ttl = d } }

// WithRecoveryInterval sets how often the recovery loop looks for expired
// leases and renews this peer's own (default 1s, at most a third of the TTL).
func WithRecoveryInterval(d time.Duration) Option { return func(e *Engine) { e.every = d } }

// WithLogger sets the logger (default discards).
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(e *Engine) { e.tracer = tp.Tracer("github.com/catga-go/catga/libs/catga/saga") }
}

// WithHook installs a hook.
func WithHook(h Hook) Option { return func(e *Engine) { e.hook = h } }

// Engine executes sagas and recovers those whose owner died. Create it with
// [New], register definitions with [Register], then call [Engine.Start]
// to run the recovery loop, and [Engine.Close] to stop.
type Engine struct {
	store  sagastore.Store
	owner  string
	ttl    time.Duration
	every  time.Duration
	log    *slog.Logger
	tracer trace.Tracer
	hook   Hook

	ctx    context.Context // cancelled by Close: stops the loop and every run
	cancel context.CancelFunc
	wg     sync.WaitGroup // the loop and every run goroutine

	mu       sync.Mutex
	defs     map[string]runner
	running  map[string]*run
	finished []sagastore.Entry // due-index entries of sagas this peer finished or left stuck
	started  bool
	closed   bool
}

// run is one saga being executed by this peer. mu serialises the writes of
// the executing goroutine and of the lease renewal.
type run struct {
	mu  sync.Mutex
	rec Record
}

// snapshot copies the run's record; the renewal replaces it concurrently.
func (r *run) snapshot() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.Clone()
}

// New returns an engine over store.
func New(store sagastore.Store, opts ...Option) *Engine {
	e := &Engine{
		store: store, owner: uuid.NewString(), ttl: 5 * time.Second, every: time.Second,
		log: slog.New(slog.DiscardHandler), defs: map[string]runner{}, running: map[string]*run{},
	}
	WithTracerProvider(otel.GetTracerProvider())(e)
	for _, o := range opts {
		o(e)
	}
	if e.ttl <= 0 {
		e.ttl = 5 * time.Second
	}
	if e.every <= 0 || e.every > e.ttl/3 {
		e.every = e.ttl / 3
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e
}

// Owner returns this peer's owner id.
func (e *Engine) Owner() string { return e.owner }

// Saga is a registered definition, used to start sagas of its type.
type Saga[D any] struct {
	e *Engine
	r *typed[D]
}

// Register validates def and registers it with e.
func Register[D any](e *Engine, def Definition[D]) (*Saga[D], error) {
	if err := def.Validate(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.defs[def.Name]; dup {
		return nil, fmt.Errorf("%w: %s registered twice", ErrInvalidDefinition, def.Name)
	}
	r := &typed[D]{def: def}
	e.defs[def.Name] = r
	return &Saga[D]{e: e, r: r}, nil
}

// Start persists a new saga with data and executes it in the background on
// this peer. It returns once the saga is persisted: from then on it finishes
// even if this peer dies. id may be empty (a UUID is chosen); starting an id
// that exists fails with sagastore.ErrExists.
func (s *Saga[D]) Start(ctx context.Context, id string, data D) (string, error) {
	r, err := s.create(ctx, id, data)
	if err != nil {
		return "", err
	}
	id = r.rec.ID     // read before the run starts writing r.rec
	s.e.spawn(r, s.r) // when closing, the lease expires and another peer resumes it
	return id, nil
}

// Run persists a new saga and executes it on the calling goroutine, returning
// its record once it is Completed, Compensated or Stuck. If ctx ends or the
// engine closes first, the lease is released and the saga continues on some
// peer.
func (s *Saga[D]) Run(ctx context.Context, id string, data D) (Record, error) {
	r, err := s.create(ctx, id, data)
	if err != nil {
		return Record{}, err
	}
	if !s.e.track(r) {
		return r.snapshot(), ErrClosed
	}
	defer s.e.wg.Done()
	defer s.e.untrack(r)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.e.ctx, cancel) // Close stops this run too
	defer stop()
	return s.e.drive(ctx, r, s.r)
}

func (s *Saga[D]) create(ctx context.Context, id string, data D) (*run, error) {
	if id == "" {
		id = uuid.NewString()
	}
	raw, err := s.r.encode(&data)
	if err != nil {
		return nil, fmt.Errorf("catga: saga %s: data: %w", s.r.def.Name, err)
	}
	now := time.Now().UTC()
	rec := Record{
		ID: id, Name: s.r.def.Name, State: sagastore.StateRunning,
		Steps: make([]sagastore.StepState, len(s.r.def.Steps)), Data: raw,
		Owner: s.e.owner, Epoch: 1, LeaseUntil: now.Add(s.e.ttl), CreatedAt: now, UpdatedAt: now,
	}
	if s.r.def.Deadline > 0 {
		rec.Deadline = now.Add(s.r.def.Deadline)
	}
	// The first step is started in the creating write: one round trip less.
	rec.Steps[0] = sagastore.StepState{Status: sagastore.StepStarted, KeyEpoch: 1}
	rec.History = []sagastore.Event{{At: now, Step: 0, What: "created", Epoch: 1, Owner: s.e.owner}, {At: now, Step: 0, What: "started", Epoch: 1}}
	v, err := s.e.store.Create(ctx, rec)
	if err != nil {
		return nil, err
	}
	rec.Version = v
	return &run{rec: rec}, nil
}

// Start starts the recovery loop. Besides claiming sagas whose owner died,
// it renews this peer's leases while a step runs longer than half the lease
// TTL: without it such a saga may be taken over by another peer (which is
// safe, thanks to fencing, but wasteful).
func (e *Engine) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if !e.started {
		e.started = true
		e.wg.Go(e.loop)
	}
	return nil
}

// Close stops the recovery loop and every saga this peer executes, releases
// their leases so other peers take over at once, and waits. ctx bounds the
// release writes.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }() // owned here: waits for the engine's goroutines
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		<-done // the runs stop promptly once cancelled; never leave them behind
		return ctx.Err()
	}
}

// track registers a run executed by a caller's goroutine; Close waits for
// it (wg.Add under e.mu, before closed is set, never races Close's Wait).
func (e *Engine) track(r *run) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.running[r.rec.ID] = r
	e.wg.Add(1)
	return true
}

func (e *Engine) untrack(r *run) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running[r.rec.ID] == r {
		delete(e.running, r.rec.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Only the entry of this run's epoch: a newer owner (an operator's
	// Retry, say) has an entry of its own, which this removal cannot touch.
	if !r.rec.State.Active() {
		e.finished = append(e.finished, sagastore.Entry{ID: r.rec.ID, Epoch: r.rec.Epoch})
	}
}

// spawn executes r on a goroutine owned by the engine.
func (e *Engine) spawn(r *run, rn runner) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	// A run already tracked for this id (an operator took the saga over
	// from this very peer) is fenced out by the new epoch and untracks only
	// itself.
	e.running[r.rec.ID] = r
	e.wg.Go(func() {
		defer e.untrack(r)
		if _, err := e.drive(e.ctx, r, rn); err != nil && !errors.Is(err, context.Canceled) {
			e.log.Warn("catga: saga stopped", "saga", r.rec.ID, "err", err)
		}
	})
	return true
}

// drive executes r until it is final or stuck, this peer loses it, or ctx
// ends (then the lease is released).
func (e *Engine) drive(ctx context.Context, r *run, rn runner) (Record, error) {
	data, err := rn.decode(r.rec.Data)
	if err == nil {
		err = checkShape(&r.rec, rn.stepCount())
	}
	if err != nil {
		// Undecodable data cannot be acted on: an operator must look.
		_ = e.transition(ctx, r, func(rec *Record) {
			rec.State, rec.Error = sagastore.StateStuck, err.Error()
			rec.History = append(rec.History, sagastore.Event{At: time.Now().UTC(), Step: rec.Step, What: "stuck", Error: err.Error()})
		})
		return r.snapshot(), err
	}
	n := rn.stepCount()
	for {
		if ctx.Err() != nil {
			e.release(r)
			return r.snapshot(), ctx.Err()
		}
		rec := r.snapshot()
		switch rec.State {
		case sagastore.StateRunning:
			i := rec.Step
			if rec.Steps[i].Status == sagastore.StepPending {
				if err := e.transition(ctx, r, func(rec *Record) { startStep(rec, i) }); err != nil {
					return e.stop(r, err)
				}
			}
			attempts, callErr := e.call(ctx, r, rn, i, false, data)
			if ctx.Err() != nil {
				continue // shutting down: the outcome is unknown, the next owner repeats the call
			}
			e.fire(ctx, AfterActionReply, r)
			raw, encErr := rn.encode(data)
			if callErr == nil && encErr != nil {
				callErr = catga.Permanent(encErr)
			}
			err := e.transition(ctx, r, func(rec *Record) {
				now := time.Now().UTC()
				st := &rec.Steps[i]
				st.Attempts += attempts
				if callErr == nil {
					st.Status, rec.Data = sagastore.StepSucceeded, raw
					rec.History = append(rec.History, sagastore.Event{At: now, Step: i, What: "succeeded", Epoch: rec.Epoch})
					if i+1 < n {
						rec.Step = i + 1
						startStep(rec, i+1)
					} else {
						rec.State = sagastore.StateCompleted
						rec.History = append(rec.History, sagastore.Event{At: now, Step: i, What: "completed"})
					}
					return
				}
				st.Status, st.Error, st.Rejected = sagastore.StepFailed, callErr.Error(), catga.IsRejection(callErr)
				rec.State, rec.Error = sagastore.StateCompensating, callErr.Error()
				rec.History = append(rec.History, sagastore.Event{At: now, Step: i, What: "failed", Epoch: rec.Epoch, Error: callErr.Error()},
					sagastore.Event{At: now, Step: i, What: "compensating"})
			})
			if err != nil {
				return e.stop(r, err)
			}
		case sagastore.StateCompensating:
			i := rec.Step
			if i < 0 || !needsCompensation(rn, &rec, i) {
				if err := e.transition(ctx, r, func(rec *Record) { skipCompensation(rec, i) }); err != nil {
					return e.stop(r, err)
				}
				continue
			}
			if rec.Steps[i].Status != sagastore.StepCompensating {
				if err := e.transition(ctx, r, func(rec *Record) {
					rec.Steps[i].Status = sagastore.StepCompensating
					if rec.Steps[i].KeyEpoch == 0 {
						rec.Steps[i].KeyEpoch = rec.Epoch
					}
					rec.History = append(rec.History, sagastore.Event{At: time.Now().UTC(), Step: i, What: "compensating", Epoch: rec.Epoch})
				}); err != nil {
					return e.stop(r, err)
				}
			}
			attempts, callErr := e.call(ctx, r, rn, i, true, data)
			if ctx.Err() != nil {
				continue
			}
			e.fire(ctx, AfterCompensationReply, r)
			raw, encErr := rn.encode(data)
			if callErr == nil && encErr != nil {
				callErr = catga.Permanent(encErr)
			}
			err := e.transition(ctx, r, func(rec *Record) {
				now := time.Now().UTC()
				rec.Steps[i].Attempts += attempts
				if callErr != nil {
					rec.State, rec.Error = sagastore.StateStuck, callErr.Error()
					rec.Steps[i].Error = callErr.Error()
					rec.History = append(rec.History, sagastore.Event{At: now, Step: i, What: "stuck", Epoch: rec.Epoch, Error: callErr.Error()})
					return
				}
				rec.Steps[i].Status, rec.Data = sagastore.StepCompensated, raw
				rec.History = append(rec.History, sagastore.Event{At: now, Step: i, What: "compensated", Epoch: rec.Epoch})
				skipCompensation(rec, i)
			})
			if err != nil {
				return e.stop(r, err)
			}
		default: // final or stuck
			return r.snapshot(), nil
		}
	}
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
	rec.History = append(rec.History, sagastore.Event{At: time.Now().UTC(), Step: i, What: "started", Epoch: rec.Epoch})
}

// skipCompensation moves past step i; below step 0 the saga is Compensated.
func skipCompensation(rec *Record, i int) {
	rec.Step = i - 1
	if rec.Step < 0 {
		rec.Step = 0
		rec.State = sagastore.StateCompensated
		rec.History = append(rec.History, sagastore.Event{At: time.Now().UTC(), Step: 0, What: "compensated-all"})
	}
}

// needsCompensation: step i may have applied (it succeeded, or failed
// ambiguously, or its outcome is unknown) and has a compensation.
func needsCompensation(rn runner, rec *Record, i int) bool {
	if !rn.hasCompensation(i) {
		return false
	}
	switch st := rec.Steps[i]; st.Status {
	case sagastore.StepSucceeded, sagastore.StepStarted, sagastore.StepCompensating:
		return true
	case sagastore.StepFailed:
		return !st.Rejected // a rejected action certainly did not apply
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
	if e.hook != nil {
		r.mu.Lock()
		rec := r.rec.Clone()
		r.mu.Unlock()
		e.hook(ctx, p, &rec)
	}
}

// ActionKey is the idempotency key of step i's action when first started in
// epoch keyEpoch. The compensation's key is ActionKey + "/undo".
func ActionKey(sagaID string, step int, keyEpoch uint64) string {
	return sagaID + "/" + strconv.Itoa(step) + "/" + strconv.FormatUint(keyEpoch, 10)
}

// UndoSuffix ends a compensation's idempotency key.
const UndoSuffix = "/undo"

// call runs step i's action or compensation under its retry policy and
// returns the number of attempts made.
func (e *Engine) call(ctx context.Context, r *run, rn runner, i int, compensation bool, data any) (int, error) {
	r.mu.Lock()
	rec := &r.rec
	id, epoch, keyEpoch, deadline := rec.ID, rec.Epoch, rec.Steps[i].KeyEpoch, rec.Deadline
	r.mu.Unlock()
	key := ActionKey(id, i, keyEpoch)
	what := "action"
	if compensation {
		key += UndoSuffix
		what = "compensation"
	}
	policy, timeout := rn.policy(i, compensation)
	md := catga.Metadata{
		MessageID: key + "@" + strconv.FormatUint(epoch, 10), CorrelationID: id,
		IdempotencyKey: key, Epoch: epoch,
	}
	ctx, span := e.tracer.Start(ctx, "saga "+rn.name()+" "+rn.stepName(i)+" "+what, trace.WithAttributes(
		attribute.String("catga.saga.id", id), attribute.Int("catga.saga.step", i),
		attribute.Int64("catga.saga.epoch", int64(epoch)), attribute.Bool("catga.saga.compensation", compensation)))
	defer span.End()
	ctx = catga.WithMetadata(ctx, md)
	for attempt := 1; ; attempt++ {
		if !compensation && !deadline.IsZero() && time.Now().After(deadline) {
			err := catga.Permanent(fmt.Errorf("%w (step %d)", ErrDeadline, i))
			span.SetStatus(codes.Error, err.Error())
			return attempt - 1, err
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, timeout)
		}
		err := rn.call(actx, i, compensation, data)
		cancel()
		if err == nil {
			return attempt, nil
		}
		if ctx.Err() != nil {
			return attempt, ctx.Err()
		}
		if !policy.retryable(err) || attempt >= policy.MaxAttempts {
			span.SetStatus(codes.Error, err.Error())
			return attempt, fmt.Errorf("catga: saga %s step %d %s (attempt %d): %w", id, i, what, attempt, err)
		}
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(policy.backoff(attempt)):
		}
	}
}

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
	next := r.rec.Clone()
	fn(&next)
	if err := e.persist(ctx, &next); err != nil {
		return err
	}
	r.rec = next
	if e.hook != nil {
		rec := r.rec.Clone()
		e.hook(ctx, AfterPersist, &rec)
	}
	return nil
}

// persist writes rec (r.mu held) and updates its Version.
func (e *Engine) persist(ctx context.Context, rec *Record) error {
	now := time.Now().UTC()
	rec.UpdatedAt = now
	if rec.State.Active() {
		rec.LeaseUntil = now.Add(e.ttl)
	}
	// Bounded by the lease: past it another peer may own the saga anyway.
	giveUp := now.Add(e.ttl)
	ambiguous := false
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.ttl/2)
		v, err := e.store.Update(wctx, *rec)
		cancel()
		switch {
		case err == nil:
			rec.Version = v
			return nil
		case errors.Is(err, sagastore.ErrConflict) && ambiguous:
			// An earlier attempt may have been applied with its reply lost:
			// if the stored record is ours, it was.
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.ttl/2)
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
		if time.Now().After(giveUp) || attempt >= 200 {
			return fmt.Errorf("catga: saga %s: persist: %w", rec.ID, err)
		}
		e.log.Debug("catga: saga persist retry", "saga", rec.ID, "err", err)
		time.Sleep(min(time.Duration(attempt)*20*time.Millisecond, 250*time.Millisecond))
	}
}

// release gives up the lease so another peer can claim the saga at once.
func (e *Engine) release(r *run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.rec.State.Active() || r.rec.Owner != e.owner {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.ttl)
	defer cancel()
	rec := r.rec.Clone()
	now := time.Now().UTC()
	rec.LeaseUntil, rec.UpdatedAt = now, now
	rec.History = append(rec.History, sagastore.Event{At: now, Step: rec.Step, What: "released", Epoch: rec.Epoch, Owner: e.owner})
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

// loop is the recovery loop: it renews this peer's leases, claims sagas
// whose lease expired and drops finished sagas from the due index.
func (e *Engine) loop() {
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

// recoverOnce does one pass of the recovery loop. It is exported to tests
// through RecoverNow.
func (e *Engine) recoverOnce(ctx context.Context) {
	e.mu.Lock()
	finished := e.finished
	e.finished = nil
	runs := make([]*run, 0, len(e.running))
	for _, r := range e.running {
		runs = append(runs, r)
	}
	e.mu.Unlock()
	if len(finished) > 0 {
		if err := e.store.Unindex(ctx, finished...); err != nil {
			e.log.Warn("catga: saga unindex failed", "err", err)
			e.mu.Lock()
			e.finished = append(e.finished, finished...)
			e.mu.Unlock()
		}
	}
	// Renew leases of long-running steps (transitions renew them too).
	for _, r := range runs {
		r.mu.Lock()
		due := r.rec.State.Active() && time.Until(r.rec.LeaseUntil) < e.ttl/2
		r.mu.Unlock()
		if due {
			if err := e.transition(ctx, r, func(*Record) {}); err != nil {
				e.log.Warn("catga: saga lease renewal failed", "saga", r.rec.ID, "err", err)
			}
		}
	}
	entries, err := e.store.Due(ctx, time.Now(), 256)
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

// recoverSaga looks at one due entry: it drops entries whose epoch is over,
// pushes back those of live leases and claims sagas whose lease expired.
func (e *Engine) recoverSaga(ctx context.Context, ent sagastore.Entry) {
	e.mu.Lock()
	local := e.running[ent.ID]
	e.mu.Unlock()
	if local != nil {
		local.mu.Lock()
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
	now := time.Now().UTC()
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
	e.mu.Lock()
	rn := e.defs[rec.Name]
	e.mu.Unlock()
	if rn == nil || rn.stepCount() != len(rec.Steps) {
		// Another kind of peer may know it; look again later.
		_ = e.store.Index(ctx, sagastore.Entry{ID: ent.ID, Epoch: ent.Epoch, At: now.Add(e.ttl)})
		return
	}
	if _, err := e.claim(ctx, &rec, "claimed"); err != nil {
		return
	}
	if ent.Epoch < rec.Epoch {
		_ = e.store.Unindex(ctx, ent) // the claim indexed the new epoch
	}
	e.spawn(&run{rec: rec}, rn)
}

// claim takes ownership of rec with a new epoch, fencing out the previous
// owner, and persists it. The new epoch's due entry is written first: a
// claimer that dies right after its write leaves the saga recoverable.
func (e *Engine) claim(ctx context.Context, rec *Record, what string) (*Record, error) {
	now := time.Now().UTC()
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
	if time.Since(now) > e.ttl {
		if err := e.store.Index(ctx, ent); err != nil {
			e.log.Warn("catga: saga index after claim failed", "saga", next.ID, "err", err)
		}
	}
	*rec = next
	return rec, nil
}

// RecoverNow runs one pass of the recovery loop on the calling goroutine.
func (e *Engine) RecoverNow(ctx context.Context) { e.recoverOnce(ctx) }

// Get returns a saga with its step history.
func (e *Engine) Get(ctx context.Context, id string) (Record, error) { return e.store.Get(ctx, id) }

// List returns up to limit sagas in state.
func (e *Engine) List(ctx context.Context, state State, limit int) ([]Record, error) {
	return e.store.List(ctx, state, limit)
}

// Await polls the store until saga id is Completed, Compensated or Stuck,
// or ctx ends.
func (e *Engine) Await(ctx context.Context, id string) (Record, error) {
	for {
		rec, err := e.store.Get(ctx, id)
		if err == nil && !rec.State.Active() {
			return rec, nil
		}
		if err != nil && !catga.IsRetryable(err) && !errors.Is(err, sagastore.ErrNotFound) {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return rec, fmt.Errorf("catga: await saga %s (state %s): %w", id, rec.State, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Retry resumes a Stuck saga's compensation on this peer with fresh
// attempts.
func (e *Engine) Retry(ctx context.Context, id string) error {
	return e.operate(ctx, id, "retried", func(rec *Record) error {
		if rec.State != sagastore.StateStuck {
			return fmt.Errorf("%w: %s is %s, not stuck", ErrInvalidState, id, rec.State)
		}
		rec.State, rec.Error = sagastore.StateCompensating, ""
		return nil
	})
}

// ForceCompensate stops a Running (or Stuck) saga and compensates it on this
// peer. The current owner is fenced out by the new epoch.
func (e *Engine) ForceCompensate(ctx context.Context, id string) error {
	return e.operate(ctx, id, "forced-compensation", func(rec *Record) error {
		if rec.State != sagastore.StateRunning && rec.State != sagastore.StateStuck {
			return fmt.Errorf("%w: %s is %s", ErrInvalidState, id, rec.State)
		}
		rec.State, rec.Error = sagastore.StateCompensating, "compensation forced by operator"
		return nil
	})
}

func (e *Engine) operate(ctx context.Context, id, what string, fn func(*Record) error) error {
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
