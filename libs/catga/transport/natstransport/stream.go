package natstransport

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// streamConfig is the stream this peer would create.
func (t *Transport) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       t.cfg.Stream,
		Subjects:   t.cfg.StreamSubjects,
		Replicas:   t.cfg.Replicas,
		Duplicates: t.cfg.DuplicateWindow,
		MaxAge:     t.cfg.MaxAge,
		MaxBytes:   t.cfg.MaxBytes,
		Discard:    jetstream.DiscardOld,
		Storage:    jetstream.FileStorage,
	}
}

// ensureStream creates the event stream if it does not exist. An existing
// stream is never changed: it may have been sized by an operator (replicas,
// limits) or created by a peer of another version, and a peer rewriting it
// with its own defaults would silently downgrade it. A difference is
// logged; a stream that does not hold the subjects this peer publishes on
// is an error.
func (t *Transport) ensureStream(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.streamOK {
		return nil
	}
	want := t.streamConfig()
	err := retrySetup(ctx, func(ctx context.Context) error {
		_, err := t.js.CreateStream(ctx, want)
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err // created (or the same config exists), or failed
		}
		s, err := t.js.Stream(ctx, want.Name)
		if err != nil {
			return err
		}
		return t.checkStream(s.CachedInfo().Config, want)
	})
	if err != nil {
		return fmt.Errorf("catga: jetstream stream %s: %w", want.Name, err)
	}
	t.streamOK = true
	return nil
}

func (t *Transport) checkStream(have, want jetstream.StreamConfig) error {
	for _, sub := range want.Subjects {
		if !slices.Contains(have.Subjects, sub) {
			return fmt.Errorf("%w: existing stream %s has subjects %v, not %s (add it there: the transport does not change an existing stream)",
				errStreamMismatch, have.Name, have.Subjects, sub)
		}
	}
	var diffs []any
	diff := func(name string, h, w any) {
		if h != w {
			diffs = append(diffs, name, fmt.Sprintf("%v (this peer: %v)", h, w))
		}
	}
	diff("replicas", have.Replicas, want.Replicas)
	diff("duplicates", have.Duplicates, want.Duplicates)
	diff("max_age", have.MaxAge, want.MaxAge)
	diff("max_bytes", have.MaxBytes, want.MaxBytes)
	diff("storage", have.Storage, want.Storage)
	if len(diffs) > 0 {
		t.cfg.Logger.Warn("catga: stream config differs from this peer's; left as it is",
			append([]any{"stream", have.Name}, diffs...)...)
	}
	return nil
}

var errStreamMismatch = errors.New("catga: stream mismatch")
