package topology

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// owned is what one topology made, for removal on interruption.
type owned struct {
	mu         sync.Mutex
	containers []*testcontainers.DockerContainer
	network    *testcontainers.DockerNetwork
}

func (o *owned) addContainer(c *testcontainers.DockerContainer) {
	if c == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.containers = append(o.containers, c)
}

// removeOnInterrupt removes every container and the network of the
// topology when the test process gets SIGINT (Ctrl-C) or SIGTERM, then
// exits with status 1: by default those signals end the process at once,
// running no t.Cleanup. Removal is bounded to 30 s; what it misses (a
// container being created at that moment) carries [Label] for
// scripts/e2e-clean.sh. SIGKILL and the go test -timeout panic cannot be
// caught: that sweep is their only cleanup.
func removeOnInterrupt(t testing.TB, o *owned) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	t.Cleanup(func() {
		signal.Stop(sigs)
		close(done)
	})
	go func() {
		select {
		case <-done:
			return
		case sig := <-sigs:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			o.mu.Lock()
			defer o.mu.Unlock()
			// Killed, not stopped gracefully, and all at once: the user is
			// waiting at the terminal.
			var (
				wg      sync.WaitGroup
				removed atomic.Int32
			)
			for _, c := range o.containers {
				wg.Go(func() {
					if testcontainers.TerminateContainer(c, testcontainers.StopContext(ctx), testcontainers.StopTimeout(0)) == nil {
						removed.Add(1)
					}
				})
			}
			wg.Wait()
			if o.network != nil {
				_ = o.network.Remove(ctx)
			}
			fmt.Fprintf(os.Stderr, "e2e: %s: removed %d of %d containers and the network of %s\n",
				sig, removed.Load(), len(o.containers), t.Name())
			os.Exit(1)
		}
	}()
}
