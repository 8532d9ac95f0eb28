// Package backoff is the one retry schedule of the library: exponential,
// capped, with jitter so that peers retrying together spread out. The saga
// engine, the transport client and the outbox relay all wait with it.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential schedule: Initial before the second attempt,
// doubling up to Max, each wait moved by up to ±Jitter of itself.
type Policy struct {
	Initial time.Duration
	Max     time.Duration
	Jitter  float64 // in [0, 1]
}

// Delay returns the wait after failed attempt n (n >= 1).
func (p Policy) Delay(n int) time.Duration {
	d := p.Initial << min(max(n-1, 0), 30)
	if d <= 0 || d > p.Max {
		d = p.Max
	}
	if p.Jitter > 0 && d > 0 {
		d += time.Duration(float64(d) * p.Jitter * (rand.Float64()*2 - 1))
	}
	return max(d, 0)
}

// Sleep waits d or until ctx ends; it reports whether the full wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
