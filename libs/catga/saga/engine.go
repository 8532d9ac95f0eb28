package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

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

// WithClock sets the clock this peer writes and judges leases by (default
// time.Now); nothing else reads it. Peers' clocks may disagree by less than
// TTL/2 - recovery interval (see "Clocks" in the package documentation):
// a peer ahead by less never takes over a live lease, one ahead by more may
// take over a live saga early (safe, by fencing, but wasteful).
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.clock = now } }

// WithRecoveryInterval sets how often the recovery loop looks for expired
// leases and the renewal loop renews this peer's own (default 1s, at most a
// third of the TTL).
func WithRecoveryInterval(d time.Duration) Option { return func(e *Engine) { e.every = d } }

// WithStepTimeout bounds each attempt of a step that sets no Timeout of its
// own (default 30s). A step call that outlives it, even one that ignores its
// context, is abandoned as failed and retried per the step's policy, so one
// hung participant cannot pin a saga.
func WithStepTimeout(d time.Duration) Option { return func(e *Engine) { e.stepTimeout = d } }

// WithLogger sets the logger (default discards).
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(e *Engine) { e.tracer = tp.Tracer("github.com/catga-go/catga/libs/catga/saga") }
}

// WithHook installs a hook; hooks installed by several options all run, in
// the order given (metrics and fault injection can observe one engine).
func WithHook(h Hook) Option { return func(e *Engine) { e.hooks = append(e.hooks, h) } }

// Engine executes sagas and recovers those whose owner died. Create it with
// [New], register definitions with [Register], then call [Engine.Start]
// to run the recovery and renewal loops, and [Engine.Close] to stop.
type Engine struct {
	store       sagastore.Store
	owner       string
	ttl         time.Duration
	every       time.Duration
	stepTimeout time.Duration
	log         *slog.Logger
	tracer      trace.Tracer
	clock       func() time.Time // lease arithmetic only (WithClock)
	hooks       []Hook

	ctx    context.Context // cancelled by Close: stops the loops and every run
	cancel context.CancelFunc
	// hard bounds every store write; it ends when Close's ctx does, so that
	// Close is bounded even while the store is down.
	hard       context.Context
	hardCancel context.CancelFunc
	wg         sync.WaitGroup // the loops and every run goroutine

	mu       sync.Mutex
	defs     map[string]runner
	running  map[string]*run
	finished []sagastore.Entry // due-index entries of sagas this peer finished or left stuck
	started  bool
	closed   bool
}

// run is one saga being executed by this peer. mu serialises the writes of
// the executing goroutine and of the lease renewal; rec is replaced, never
// modified in place, and only once the store accepted the new version.
type run struct {
	mu  sync.Mutex
	rec Record
	// stop cancels the run's step calls when the renewal finds that another
	// peer owns the saga now.
	stop context.CancelCauseFunc
	// unsure is a renewal whose write failed ambiguously (it may have been
	// applied, its reply lost): a later write that conflicts checks whether
	// the stored record is that renewal before concluding it lost the saga.
	unsure *Record
}

// current returns the run's record to read, not to modify: an adopted
// record's slices are never written again (transitions fork a deep copy),
// so sharing them is safe and saves a copy per step.
func (r *run) current() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec
}

// snapshot returns a deep copy of the run's record, for callers to keep.
func (r *run) snapshot() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.Clone()
}

// New returns an engine over store.
func New(store sagastore.Store, opts ...Option) *Engine {
	e := &Engine{
		store: store, owner: uuid.NewString(), ttl: 5 * time.Second, every: time.Second, stepTimeout: 30 * time.Second, clock: time.Now,
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
	if e.stepTimeout <= 0 {
		e.stepTimeout = 30 * time.Second
	}
	if e.clock == nil {
		e.clock = time.Now
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.hard, e.hardCancel = context.WithCancel(context.Background())
	return e
}

// now is the time of lease arithmetic: writing, renewing and judging leases.
func (e *Engine) now() time.Time { return e.clock().UTC() }

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
// even if this peer dies (or is closing: the lease expires and another peer
// resumes it). id may be empty (a UUID is chosen); starting an id that
// exists fails with sagastore.ErrExists.
func (s *Saga[D]) Start(ctx context.Context, id string, data D) (string, error) {
	r, err := s.create(ctx, id, data)
	if err != nil {
		return "", err
	}
	id = r.rec.ID // read before the run starts replacing r.rec
	s.e.spawn(r, s.r)
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
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.stop = cancel
	if !s.e.track(r) {
		return r.snapshot(), ErrClosed
	}
	defer s.e.wg.Done()
	defer s.e.untrack(r)
	stop := context.AfterFunc(s.e.ctx, func() { cancel(ErrClosed) }) // Close stops this run too
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
		Owner: s.e.owner, Epoch: 1, LeaseUntil: s.e.now().Add(s.e.ttl), CreatedAt: now, UpdatedAt: now,
	}
	if s.r.def.Deadline > 0 {
		rec.Deadline = now.Add(s.r.def.Deadline)
	}
	// The first step is started in the creating write: one round trip less.
	rec.Steps[0] = sagastore.StepState{Status: sagastore.StepStarted, KeyEpoch: 1}
	rec.History = []sagastore.Event{
		{At: now, Step: 0, What: sagastore.EventCreated, Epoch: 1, Owner: s.e.owner},
		{At: now, Step: 0, What: sagastore.EventStarted, Epoch: 1},
	}
	v, err := s.e.store.Create(ctx, rec)
	if err != nil {
		return nil, err
	}
	rec.Version = v
	return &run{rec: rec}, nil
}

// Start starts the recovery loop, which claims sagas whose owner died, and
// the renewal loop, which renews this peer's leases while a step runs longer
// than half the lease TTL: without it such a saga may be taken over by
// another peer (which is safe, thanks to fencing, but wasteful).
func (e *Engine) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if !e.started {
		e.started = true
		e.wg.Go(e.recoveryLoop)
		e.wg.Go(e.renewalLoop)
	}
	return nil
}

// Close stops the loops and every saga this peer executes, releases their
// leases so other peers take over at once, and waits for its goroutines. It
// returns by the time ctx ends: then the store writes still in flight are
// cancelled, and step calls that ignore their context are abandoned (they
// finish on their own; their sagas are resumed elsewhere).
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	stop := context.AfterFunc(ctx, e.hardCancel)
	defer stop()
	e.cancel()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }() // ends once the runs noticed the cancellation
	select {
	case <-done:
		return nil
	case <-ctx.Done():
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
	rec := r.snapshot()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running[rec.ID] == r {
		delete(e.running, rec.ID)
	}
	// Only the entry of this run's epoch: a newer owner (an operator's
	// Retry, say) has an entry of its own, which this removal cannot touch.
	if !rec.State.Active() {
		e.finished = append(e.finished, sagastore.Entry{ID: rec.ID, Epoch: rec.Epoch})
	}
}

// spawn executes r on a goroutine owned by the engine.
func (e *Engine) spawn(r *run, rn runner) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	ctx, cancel := context.WithCancelCause(e.ctx)
	r.stop = cancel
	id := r.rec.ID // r is not shared yet
	// A run already tracked for this id (an operator took the saga over
	// from this very peer) is fenced out by the new epoch and untracks only
	// itself. Its calls are cancelled now: untracked, it is no longer
	// renewed, so no renewal would find out and cancel them.
	if old := e.running[id]; old != nil && old.stop != nil {
		old.stop(fmt.Errorf("%w: %s: taken over on this peer", ErrLostOwnership, id))
	}
	e.running[id] = r
	e.wg.Go(func() {
		defer cancel(nil)
		defer e.untrack(r)
		if _, err := e.drive(ctx, r, rn); err != nil && !errors.Is(err, context.Canceled) {
			e.log.Warn("catga: saga stopped", "saga", id, "err", err)
		}
	})
	return true
}
