package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga/internal/backoff"
)

// Evolve folds one event into an aggregate's state.
type Evolve[S any] func(state S, event any) S

// Decide is a command handler: given the current state it returns the new
// events, or an error (typically a catga.Reject) and no events. An element
// may be an [Event], to give the event its id (say, derived from the
// command, so a retried command cannot append twice); any other value is
// the event's data. It may run more than once for one command when appends
// conflict, so it must not have side effects.
type Decide[S any] func(state S) ([]any, error)

// State is an aggregate's state and the stream version it reflects.
type State[S any] struct {
	Value   S
	Version int64
}

// LoadState folds a stream into initial. When store also implements
// [SnapshotStore] and the stream has a snapshot whose state is an S, it
// starts from the snapshot and folds only the later events; a snapshot that
// no longer decodes is ignored and the stream replayed in full.
func LoadState[S any](ctx context.Context, store Store, streamID string, initial S, evolve Evolve[S]) (State[S], error) {
	return loadState(ctx, store, streamID, initial, evolve, 0)
}

// loadState is LoadState using only snapshots of schema version snapVersion.
func loadState[S any](ctx context.Context, store Store, streamID string, initial S, evolve Evolve[S], snapVersion int) (State[S], error) {
	st := State[S]{Value: initial}
	if ss, ok := store.(SnapshotStore); ok {
		snap, err := ss.LoadSnapshot(ctx, streamID)
		var de *DecodeError
		switch {
		case err == nil:
			if v, ok := snap.State.(S); ok && snap.SchemaVersion == snapVersion {
				st = State[S]{Value: v, Version: snap.Version}
			}
		case errors.Is(err, ErrNoSnapshot), errors.As(err, &de):
			// No snapshot, or one whose type changed since: replay.
		default:
			return st, err
		}
	}
	recs, err := store.Load(ctx, streamID, st.Version)
	if err != nil {
		return st, err
	}
	for _, r := range recs {
		st.Value = evolve(st.Value, r.Event)
		st.Version = r.Version
	}
	return st, nil
}

// HandleOption configures [Handle].
type HandleOption func(*handleConfig)

type handleConfig struct {
	maxAttempts     int
	snapshotEvery   int64
	snapshotVersion int
	appendOpts      []AppendOption
}

// WithMaxAttempts bounds how often Handle runs load → decide → append when
// appends conflict (default 5).
func WithMaxAttempts(n int) HandleOption {
	return func(c *handleConfig) { c.maxAttempts = max(n, 1) }
}

// WithSnapshotEvery saves a snapshot of the new state when an append crosses
// a multiple of n versions (store must implement [SnapshotStore] and S must
// be registered). A failed snapshot save does not fail the command.
func WithSnapshotEvery(n int64) HandleOption {
	return func(c *handleConfig) { c.snapshotEvery = n }
}

// WithSnapshotVersion sets the schema version of the snapshots Handle saves
// and the only one it loads (default 0). Raise it when the state type or
// evolve changes meaning: older snapshots are then ignored, and replaced as
// new ones are taken.
func WithSnapshotVersion(v int) HandleOption {
	return func(c *handleConfig) { c.snapshotVersion = v }
}

// WithAppendOptions passes options (such as [WithInbox]) to the append.
func WithAppendOptions(opts ...AppendOption) HandleOption {
	return func(c *handleConfig) { c.appendOpts = append(c.appendOpts, opts...) }
}

// Handle runs one command against an aggregate: load its state, decide, and
// append the decided events expecting the loaded version. On a version
// conflict it starts over, up to the attempt bound, after a short jittered
// pause; the last [*ConflictError] is returned when attempts run out. Errors
// from decide (rejections) are returned as they are, never retried. No new
// events means no append. It returns the state after the command, folded
// from the events as stored (what a later load folds), not from the values
// decide returned.
func Handle[S any](ctx context.Context, store Store, streamID string, initial S, evolve Evolve[S], decide Decide[S], opts ...HandleOption) (State[S], error) {
	cfg := newHandleConfig(opts)
	appendFn := func(ctx context.Context, expected int64, evs []Event) (AppendResult, error) {
		return store.Append(ctx, streamID, expected, evs, cfg.appendOpts...)
	}
	st, expected, err := handle(ctx, store, streamID, initial, evolve, decide, cfg, appendFn)
	if err == nil {
		snapshotIfDue(ctx, store, cfg, streamID, st, expected)
	}
	return st, err
}

// conflictBackoff spaces the attempts of a command whose appends conflict;
// the jitter spreads contenders out so they do not collide again.
var conflictBackoff = backoff.Policy{Initial: time.Millisecond, Max: 20 * time.Millisecond, Jitter: 1}

// snapshotIfDue saves st when the append from version expected crossed a
// multiple of the snapshot interval. A failed save does not fail the
// command.
func snapshotIfDue[S any](ctx context.Context, store Store, cfg handleConfig, streamID string, st State[S], expected int64) {
	if st.Version == expected || cfg.snapshotEvery <= 0 || st.Version/cfg.snapshotEvery == expected/cfg.snapshotEvery {
		return
	}
	if ss, ok := store.(SnapshotStore); ok {
		_ = ss.SaveSnapshot(ctx, Snapshot{StreamID: streamID, Version: st.Version, State: st.Value, SchemaVersion: cfg.snapshotVersion})
	}
}

// TxStore is a store that can append inside a caller's transaction of type
// Tx (pgstore: pgx.Tx, sqlitestore: *sql.Tx).
type TxStore[Tx any] interface {
	Store
	AppendTx(ctx context.Context, tx Tx, streamID string, expectedVersion int64, events []Event, opts ...AppendOption) (AppendResult, error)
	// AppendMultiTx is Store.AppendMulti in tx: a refused part undoes the
	// others (a savepoint) and leaves tx usable. Its lock order covers only
	// its own streams: streams tx locked before are the caller's to order.
	AppendMultiTx(ctx context.Context, tx Tx, appends []StreamAppend, opts ...AppendOption) ([]AppendResult, error)
}

// HandleTx is [Handle] appending in the caller's transaction tx, so the
// command commits together with the caller's other writes (an inbox record,
// a saga step, rows of its own). The state is loaded outside tx; the append
// in tx still checks the expected version, and a conflict is retried as in
// Handle. It takes no snapshot: tx may still roll back. (pgstore: call
// Store.Committed after committing, to wake the relays at once.)
func HandleTx[S, Tx any](ctx context.Context, store TxStore[Tx], tx Tx, streamID string, initial S, evolve Evolve[S], decide Decide[S], opts ...HandleOption) (State[S], error) {
	cfg := newHandleConfig(opts)
	st, _, err := handle(ctx, store, streamID, initial, evolve, decide, cfg, func(ctx context.Context, expected int64, evs []Event) (AppendResult, error) {
		return store.AppendTx(ctx, tx, streamID, expected, evs, cfg.appendOpts...)
	})
	return st, err
}

func newHandleConfig(opts []HandleOption) handleConfig {
	cfg := handleConfig{maxAttempts: 5}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// handle is the load → decide → append loop. It returns the new state and
// the version the append expected.
func handle[S any](ctx context.Context, store Store, streamID string, initial S, evolve Evolve[S], decide Decide[S], cfg handleConfig,
	appendFn func(ctx context.Context, expected int64, evs []Event) (AppendResult, error)) (State[S], int64, error) {
	var lastErr error
	for attempt := range cfg.maxAttempts {
		if attempt > 0 && !backoff.Sleep(ctx, conflictBackoff.Delay(attempt)) {
			return State[S]{}, 0, ctx.Err()
		}
		st, err := loadState(ctx, store, streamID, initial, evolve, cfg.snapshotVersion)
		if err != nil {
			return st, 0, err
		}
		decided, err := decide(st.Value)
		if err != nil {
			return st, st.Version, err
		}
		if len(decided) == 0 {
			return st, st.Version, nil
		}
		expected := st.Version // 0 == NoStream for a new stream
		res, err := appendFn(ctx, expected, toEvents(decided))
		if errors.Is(err, ErrConflict) {
			lastErr = err
			continue
		}
		if err != nil {
			return st, expected, err
		}
		// Fold the events as stored, decoded: a pointer, or a field that
		// does not survive encoding, folds exactly as it will on replay.
		for _, r := range res.Records {
			st.Value = evolve(st.Value, r.Event)
		}
		st.Version = res.Version
		return st, expected, nil
	}
	return State[S]{}, 0, fmt.Errorf("catga: eventstore: %d attempts: %w", cfg.maxAttempts, lastErr)
}

// toEvents turns a decision into events: an [Event] as it is, any other
// value as an Event's data.
func toEvents(decided []any) []Event {
	evs := make([]Event, len(decided))
	for i, d := range decided {
		if e, ok := d.(Event); ok {
			evs[i] = e
		} else {
			evs[i] = Event{Data: d}
		}
	}
	return evs
}

// Aggregate describes one kind of aggregate once, so call sites do not
// repeat its stream prefix, initial state, evolve and snapshot policy.
type Aggregate[S any] struct {
	// Prefix of the aggregate's stream ids: instance id "7" of prefix
	// "order-" is stream "order-7".
	Prefix string
	// Initial returns a fresh initial state; nil means S's zero value.
	Initial func() S
	Evolve  Evolve[S]
	// SnapshotEvery > 0 saves a snapshot every that many versions.
	SnapshotEvery int64
	// SnapshotVersion is the schema version of the snapshots: raise it when
	// S or Evolve changes meaning, so older snapshots are ignored.
	SnapshotVersion int
}

// StreamID returns the stream of instance id.
func (a Aggregate[S]) StreamID(id string) string { return a.Prefix + id }

func (a Aggregate[S]) initial() S {
	if a.Initial == nil {
		var zero S
		return zero
	}
	return a.Initial()
}

// Load returns the state of instance id.
func (a Aggregate[S]) Load(ctx context.Context, store Store, id string) (State[S], error) {
	return loadState(ctx, store, a.StreamID(id), a.initial(), a.Evolve, a.SnapshotVersion)
}

// Handle runs a command against instance id; see [Handle]. opts come after
// the aggregate's own settings.
func (a Aggregate[S]) Handle(ctx context.Context, store Store, id string, decide Decide[S], opts ...HandleOption) (State[S], error) {
	return Handle(ctx, store, a.StreamID(id), a.initial(), a.Evolve, decide, a.options(opts)...)
}

func (a Aggregate[S]) options(opts []HandleOption) []HandleOption {
	return append([]HandleOption{WithSnapshotEvery(a.SnapshotEvery), WithSnapshotVersion(a.SnapshotVersion)}, opts...)
}

// HandleAggregateTx is [Aggregate.Handle] in the caller's transaction; see
// [HandleTx]. (A method cannot take the transaction's type parameter.)
func HandleAggregateTx[S, Tx any](ctx context.Context, a Aggregate[S], store TxStore[Tx], tx Tx, id string, decide Decide[S], opts ...HandleOption) (State[S], error) {
	return HandleTx(ctx, store, tx, a.StreamID(id), a.initial(), a.Evolve, decide, a.options(opts)...)
}
