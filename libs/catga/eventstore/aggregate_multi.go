package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/catga-go/catga/libs/catga/internal/backoff"
)

// DecideMulti is a command handler over several instances of one aggregate
// (say, the stock of every SKU an order reserves): given their states by
// instance id it returns the new events by instance id, or an error and no
// events. Instances missing from the result get no events. Like [Decide] it
// may run more than once for one command, so it must not have side effects.
type DecideMulti[S any] func(states map[string]S) (map[string][]any, error)

// HandleMulti runs one command against the instances ids at once: load each,
// decide over all of them, and append every instance's new events in one
// [Store.AppendMulti], each expecting the version it was loaded at — all or
// nothing. On a version conflict it starts over, as [Handle] does, up to the
// attempt bound. Only the instances that get events are appended to, and so
// checked: a decision that must also hold on an instance it does not change
// should give that instance an event too. It returns the states after the
// command by instance id, folded from the events as stored.
func (a Aggregate[S]) HandleMulti(ctx context.Context, store Store, ids []string, decide DecideMulti[S], opts ...HandleOption) (map[string]State[S], error) {
	cfg := newHandleConfig(a.options(opts))
	states, loaded, err := handleMulti(ctx, store, a, ids, decide, cfg, func(ctx context.Context, parts []StreamAppend) ([]AppendResult, error) {
		return store.AppendMulti(ctx, parts, cfg.appendOpts...)
	})
	if err != nil {
		return states, err
	}
	for id, st := range states {
		snapshotIfDue(ctx, store, cfg, a.StreamID(id), st, loaded[id])
	}
	return states, nil
}

// HandleAggregateMultiTx is [Aggregate.HandleMulti] in the caller's
// transaction; see [HandleTx]. It takes no snapshots.
func HandleAggregateMultiTx[S, Tx any](ctx context.Context, a Aggregate[S], store TxStore[Tx], tx Tx, ids []string, decide DecideMulti[S], opts ...HandleOption) (map[string]State[S], error) {
	cfg := newHandleConfig(a.options(opts))
	states, _, err := handleMulti(ctx, store, a, ids, decide, cfg, func(ctx context.Context, parts []StreamAppend) ([]AppendResult, error) {
		return store.AppendMultiTx(ctx, tx, parts, cfg.appendOpts...)
	})
	return states, err
}

// handleMulti is the load → decide → append loop over several instances. It
// returns the new states and the versions they were loaded at.
func handleMulti[S any](ctx context.Context, store Store, a Aggregate[S], ids []string, decide DecideMulti[S], cfg handleConfig,
	appendFn func(ctx context.Context, parts []StreamAppend) ([]AppendResult, error)) (map[string]State[S], map[string]int64, error) {
	if len(ids) == 0 {
		return nil, nil, fmt.Errorf("%w: no aggregate ids", ErrInvalidArgument)
	}
	var lastErr error
	for attempt := range cfg.maxAttempts {
		if attempt > 0 && !backoff.Sleep(ctx, conflictBackoff.Delay(attempt)) {
			return nil, nil, ctx.Err()
		}
		states := make(map[string]State[S], len(ids))
		values := make(map[string]S, len(ids))
		for _, id := range ids {
			if _, dup := states[id]; dup {
				return nil, nil, fmt.Errorf("%w: aggregate id %q given twice", ErrInvalidArgument, id)
			}
			st, err := loadState(ctx, store, a.StreamID(id), a.initial(), a.Evolve, cfg.snapshotVersion)
			if err != nil {
				return nil, nil, err
			}
			states[id], values[id] = st, st.Value
		}
		loaded := make(map[string]int64, len(ids))
		for id, st := range states {
			loaded[id] = st.Version
		}
		decided, err := decide(values)
		if err != nil {
			return states, loaded, err
		}
		var parts []StreamAppend
		var partIDs []string
		for id, evs := range decided {
			st, ok := states[id]
			if !ok {
				return states, loaded, fmt.Errorf("%w: decision for aggregate %q, which was not loaded", ErrInvalidArgument, id)
			}
			if len(evs) == 0 {
				continue
			}
			parts = append(parts, StreamAppend{StreamID: a.StreamID(id), ExpectedVersion: st.Version, Events: toEvents(evs)})
			partIDs = append(partIDs, id)
		}
		if len(parts) == 0 {
			return states, loaded, nil
		}
		res, err := appendFn(ctx, parts)
		if errors.Is(err, ErrConflict) {
			lastErr = err
			continue
		}
		if err != nil {
			return states, loaded, err
		}
		for i, id := range partIDs {
			st := states[id]
			// Fold the events as stored, as Handle does.
			for _, r := range res[i].Records {
				st.Value = a.Evolve(st.Value, r.Event)
			}
			st.Version = res[i].Version
			states[id] = st
		}
		return states, loaded, nil
	}
	return nil, nil, fmt.Errorf("catga: eventstore: %d attempts: %w", cfg.maxAttempts, lastErr)
}
