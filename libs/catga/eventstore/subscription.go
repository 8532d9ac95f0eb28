package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/backoff"
)

// Subscription is a catch-up subscription: it feeds every event of a
// [Feed] to a handler, in feed order, from a durable checkpoint, and then
// keeps tailing. Projections read the store directly this way, without a
// broker in between.
//
// Delivery is at least once: the checkpoint is saved after each batch, so
// after a crash the events handled since the last save are handled again.
// Make the handler idempotent (say, by the event's position or id).
type Subscription struct {
	feed   Feed
	cps    Checkpoints
	name   string
	handle func(ctx context.Context, rec Record) error
	cfg    subscriptionConfig
}

// SubscriptionOption configures a [Subscription].
type SubscriptionOption func(*subscriptionConfig)

type subscriptionConfig struct {
	batch        int
	pollInterval time.Duration
	retry        backoff.Policy
}

// WithBatch sets how many events are read, and handled between checkpoint
// saves, at a time (default 256).
func WithBatch(n int) SubscriptionOption { return func(c *subscriptionConfig) { c.batch = n } }

// WithPollInterval sets how often an idle subscription looks for new events
// (default 100ms).
func WithPollInterval(d time.Duration) SubscriptionOption {
	return func(c *subscriptionConfig) { c.pollInterval = d }
}

// NewSubscription returns a subscription named name (the key of its
// checkpoint) feeding feed's events to handle. A retryable error from
// handle is retried, with backoff, until it succeeds or the context ends;
// any other error stops [Subscription.Run].
func NewSubscription(feed Feed, checkpoints Checkpoints, name string, handle func(ctx context.Context, rec Record) error, opts ...SubscriptionOption) (*Subscription, error) {
	cfg := subscriptionConfig{batch: 256, pollInterval: 100 * time.Millisecond,
		retry: backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}}
	for _, o := range opts {
		o(&cfg)
	}
	var errs []error
	if feed == nil || checkpoints == nil || handle == nil {
		errs = append(errs, fmt.Errorf("%w: nil feed, checkpoints or handler", ErrInvalidArgument))
	}
	if name == "" {
		errs = append(errs, fmt.Errorf("%w: empty subscription name", ErrInvalidArgument))
	}
	if cfg.batch <= 0 || cfg.pollInterval <= 0 {
		errs = append(errs, fmt.Errorf("%w: batch and poll interval must be positive", ErrInvalidArgument))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Subscription{feed: feed, cps: checkpoints, name: name, handle: handle, cfg: cfg}, nil
}

// Listener is implemented by feeds that can announce commits (the stores'
// [Outbox.Listen]); a subscription over one wakes at a commit instead of
// waiting for its next poll.
type Listener interface {
	Listen(ctx context.Context) (OutboxListener, error)
}

// Run delivers events until ctx ends (then it returns nil) or the handler,
// the feed or the checkpoint store fails for good.
func (s *Subscription) Run(ctx context.Context) error {
	cp, err := s.loadCheckpoint(ctx)
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return s.stop(ctx, fmt.Errorf("catga: eventstore: subscription %s: load checkpoint: %w", s.name, err))
	}
	wake, stopListening := s.listen(ctx)
	defer stopListening()
	failures := 0
	for ctx.Err() == nil {
		recs, err := s.feed.ReadFeed(ctx, cp, s.cfg.batch)
		if err == nil && len(recs) > 0 {
			var next Checkpoint
			var handled int
			next, handled, err = s.deliver(ctx, recs)
			if handled > 0 {
				// Saved even as ctx ends, so the work done is not repeated.
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				serr := s.cps.SaveCheckpoint(sctx, s.name, next)
				cancel()
				if serr != nil {
					err = errors.Join(err, serr)
				} else {
					cp = next
				}
			}
		}
		switch {
		case err != nil && catga.IsRetryable(err):
			failures++
			if !backoff.Sleep(ctx, s.cfg.retry.Delay(failures)) {
				return nil
			}
		case err != nil:
			return s.stop(ctx, fmt.Errorf("catga: eventstore: subscription %s at %v: %w", s.name, cp, err))
		case len(recs) < s.cfg.batch:
			failures = 0
			t := time.NewTimer(s.cfg.pollInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-wake:
			case <-t.C:
			}
			t.Stop()
		default:
			failures = 0
		}
	}
	return nil
}

// loadCheckpoint reads where the subscription stopped, retrying retryable
// failures (a database that is still starting or failing over) as the
// delivery loop does, until ctx ends.
func (s *Subscription) loadCheckpoint(ctx context.Context) (Checkpoint, error) {
	for failures := 1; ; failures++ {
		cp, err := s.cps.LoadCheckpoint(ctx, s.name)
		if err == nil || !catga.IsRetryable(err) || !backoff.Sleep(ctx, s.cfg.retry.Delay(failures)) {
			return cp, err
		}
	}
}

// listen returns a channel signalled at commits, when the feed can listen;
// otherwise (or once the listener breaks) one that never is, and polling
// alone finds new events. stop ends the listener and waits for it.
func (s *Subscription) listen(ctx context.Context) (wake <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	ln, ok := s.feed.(Listener)
	if !ok {
		return ch, func() {}
	}
	lctx, cancel := context.WithCancel(ctx)
	l, err := ln.Listen(lctx)
	if err != nil {
		cancel()
		return ch, func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = l.Close() }()
		for l.Wait(lctx) == nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, func() { cancel(); <-done }
}

// deliver hands recs to the handler in order and returns the checkpoint of
// the last one handled, and how many were.
func (s *Subscription) deliver(ctx context.Context, recs []Record) (Checkpoint, int, error) {
	var done Checkpoint
	for i, r := range recs {
		if err := s.handleOne(ctx, r); err != nil {
			return done, i, err
		}
		done = r.Checkpoint()
	}
	return done, len(recs), nil
}

func (s *Subscription) handleOne(ctx context.Context, r Record) error {
	for attempt := 1; ; attempt++ {
		err := safeHandle(ctx, s.handle, r)
		if err == nil || !catga.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		if !backoff.Sleep(ctx, s.cfg.retry.Delay(attempt)) {
			return ctx.Err()
		}
	}
}

// safeHandle turns a panic in the handler into a permanent error.
func safeHandle(ctx context.Context, h func(context.Context, Record) error, r Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = catga.Permanent(fmt.Errorf("catga: eventstore: handler panicked on %s@%d: %v", r.StreamID, r.Version, p))
		}
	}()
	return h(ctx, r)
}

// stop returns err, or nil when ctx ended: a subscription stopped by its
// owner ends cleanly, whatever the interrupted read returned.
func (s *Subscription) stop(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return nil
}
