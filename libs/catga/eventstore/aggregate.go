package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Evolve folds one event into an aggregate's state.
type Evolve[S any] func(state S, event any) S

// Decide is a command handler: given the current state it returns the new
// events, or an error (typically a catga.Reject) and no events. It may run
// more than once for one command when appends conflict, so it must not have
// side effects.
type Decide[S any] func(state S) ([]any, error)

// State is an aggregate's state and the stream version it reflects.
type State[S any] struct {
	Value   S
	Version int64
}

// LoadState folds a stream into initial. When store also implements
// [SnapshotStore] and the stream has a snapshot whose state is an S, it
// starts from the snapshot and folds only the later events.
func LoadState[S any](ctx context.Context, store Store, streamID string, initial S, evolve Evolve[S]) (State[S], error) {
	st := State[S]{Value: initial}
	if ss, ok := store.(SnapshotStore); ok {
		snap, err := ss.LoadSnapshot(ctx, streamID)
		switch {
		case err == nil:
			if v, ok := snap.State.(S); ok {
				st = State[S]{Value: v, Version: snap.Version}
			}
		case !errors.Is(err, ErrNoSnapshot):
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
	maxAttempts   int
	snapshotEvery int64
	appendOpts    []AppendOption
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

// WithAppendOptions passes options (such as [WithInbox]) to the append.
func WithAppendOptions(opts ...AppendOption) HandleOption {
	return func(c *handleConfig) { c.appendOpts = append(c.appendOpts, opts...) }
}

// Handle runs one command against an aggregate: load its state, decide, and
// append the decided events expecting the loaded version. On a version
// conflict it starts over, up to the attempt bound, after a short jittered
// pause; the last [*ConflictError] is returned when attempts run out. Errors
// from decide (rejections) are returned as they are, never retried. No new
// events means no append. It returns the state after the command.
func Handle[S any](ctx context.Context, store Store, streamID string, initial S, evolve Evolve[S], decide Decide[S], opts ...HandleOption) (State[S], error) {
	cfg := handleConfig{maxAttempts: 5}
	for _, o := range opts {
		o(&cfg)
	}
	var lastErr error
	for attempt := range cfg.maxAttempts {
		if attempt > 0 {
			// Jitter spreads contenders out so they do not collide again.
			pause := time.Duration(rand.Int64N(int64(attempt) * int64(2*time.Millisecond)))
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return State[S]{}, ctx.Err()
			case <-t.C:
			}
		}
		st, err := LoadState(ctx, store, streamID, initial, evolve)
		if err != nil {
			return st, err
		}
		decided, err := decide(st.Value)
		if err != nil {
			return st, err
		}
		if len(decided) == 0 {
			return st, nil
		}
		evs := make([]Event, len(decided))
		for i, d := range decided {
			evs[i] = Event{Data: d}
		}
		expected := st.Version // 0 == NoStream for a new stream
		res, err := store.Append(ctx, streamID, expected, evs, cfg.appendOpts...)
		if errors.Is(err, ErrConflict) {
			lastErr = err
			continue
		}
		if err != nil {
			return st, err
		}
		for _, d := range decided {
			st.Value = evolve(st.Value, d)
		}
		st.Version = res.Version
		if cfg.snapshotEvery > 0 && res.Version/cfg.snapshotEvery != expected/cfg.snapshotEvery {
			if ss, ok := store.(SnapshotStore); ok {
				_ = ss.SaveSnapshot(ctx, Snapshot{StreamID: streamID, Version: st.Version, State: st.Value})
			}
		}
		return st, nil
	}
	return State[S]{}, fmt.Errorf("catga: eventstore: %d attempts: %w", cfg.maxAttempts, lastErr)
}
