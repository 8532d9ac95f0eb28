package peertest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/transport"
)

// Sends across a kill: each send gets this long per attempt and retries
// this often, within an overall bound.
const (
	killAttempt = time.Second
	killRetries = 20
	killBackoff = 50 * time.Millisecond
	killBound   = 30 * time.Second
	killAfter   = 5 // answers before the kill
)

// SendsAcrossKill runs n sends at once and kills victim (SIGKILL) as soon
// as five of them have answered, so that the kill hits sends in flight.
// send(ctx, i, opts...) makes send i with ctx and opts: a one-second
// attempt timeout and retries, so that a send whose attempt died with the
// victim is retried on the survivors. It returns each send's error. A send
// whose first attempt reached the victim waits out the attempt timeout
// before its retry; if none did, the kill tested nothing, and t fails.
func SendsAcrossKill(t testing.TB, victim *Process, n int, send func(ctx context.Context, i int, opts ...transport.SendOption) error) []error {
	t.Helper()
	var answered, retried atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), killBound)
			defer cancel()
			start := time.Now()
			errs[i] = send(ctx, i, transport.WithAttemptTimeout(killAttempt), transport.WithRetry(killRetries, killBackoff))
			if time.Since(start) >= killAttempt {
				retried.Add(1)
			}
			if answered.Add(1) == killAfter {
				victim.Kill()
			}
		})
	}
	wg.Wait()
	if retried.Load() == 0 {
		t.Fatal("peertest: no send was in flight at the killed peer: nothing was tested")
	}
	t.Logf("%d of %d sends retried after %s was killed", retried.Load(), n, victim.Name)
	return errs
}
