package peer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/peer"
)

type ping struct{}

type tick struct{}

// TestDelayRequests: a request waits the delay before its handler and again
// before its answer; an event is not delayed; a request whose deadline
// ends in the first wait never reaches its handler.
func TestDelayRequests(t *testing.T) {
	const d = 50 * time.Millisecond
	m := mediator.New(mediator.WithMiddleware(peer.DelayRequests(d)))
	var ranAt atomic.Int64
	if err := mediator.Handle(m, func(context.Context, ping) (time.Time, error) {
		now := time.Now()
		ranAt.Store(now.UnixNano())
		return now, nil
	}); err != nil {
		t.Fatal(err)
	}
	var events atomic.Int32
	if err := mediator.Subscribe(m, func(context.Context, tick) error { events.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	handled, err := mediator.Send[time.Time](t.Context(), m, ping{})
	answered := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if before, after := handled.Sub(start), answered.Sub(handled); before < d || after < d {
		t.Fatalf("handler ran %s after the send and answered %s later, want both >= %s", before, after, d)
	}

	start = time.Now()
	if err := mediator.Publish(t.Context(), m, tick{}); err != nil || events.Load() != 1 {
		t.Fatalf("publish: %v, %d handled", err, events.Load())
	}
	if took := time.Since(start); took >= d {
		t.Fatalf("an event took %s: events must not be delayed", took)
	}

	ranAt.Store(0)
	ctx, cancel := context.WithTimeout(t.Context(), d/5)
	defer cancel()
	if _, err := mediator.Send[time.Time](ctx, m, ping{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send with a deadline inside the delay: %v, want DeadlineExceeded", err)
	}
	if ranAt.Load() != 0 {
		t.Fatal("the handler ran although the request's deadline ended before it")
	}
}
