package natstransport_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/transport"
)

type lazyEcho struct {
	N int `json:"n"`
}

// TestRequestWithAttemptDeadline covers the request path that waits on its
// own reply mux and pooled timer (taken when Route/Request bound an attempt
// below the caller's deadline, the default).
func TestRequestWithAttemptDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s, err := natsembed.Start(natsembed.Config{NoJetStream: true})
	if err != nil {
		t.Fatalf("natsembed: %v", err)
	}
	t.Cleanup(s.Shutdown)
	server, client := connect(t, s.ClientURL()), connect(t, s.ClientURL())
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the transports close
	block := func(context.Context, *transport.Msg) *transport.Msg {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		return &transport.Msg{Data: []byte(`{}`)}
	}
	echo := func(_ context.Context, m *transport.Msg) *transport.Msg { return &transport.Msg{Data: m.Data} }
	for subj, h := range map[string]transport.RequestHandler{"catga.cmd.lazy.echo": echo, "catga.cmd.lazy.block": block} {
		if _, err := server.Serve(subj, "q", h, transport.ServeConfig{Concurrency: 4}); err != nil {
			t.Fatal(err)
		}
	}
	if err := server.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	opts := func(attempt time.Duration) []transport.SendOption {
		return []transport.SendOption{transport.WithRetry(1, time.Millisecond), transport.WithAttemptTimeout(attempt)}
	}
	route := func(name string) transport.Route[lazyEcho, lazyEcho] {
		return transport.NewRoute[lazyEcho, lazyEcho](name)
	}

	t.Run("concurrent replies reach their callers", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 32*20)
		for w := range 32 {
			wg.Go(func() {
				for i := range 20 {
					n := w*1000 + i
					got, err := transport.Request(ctx, client, route("lazy.echo"), lazyEcho{N: n}, opts(5*time.Second)...)
					if err != nil || got.N != n {
						errs <- fmt.Errorf("request %d: got %+v: %w", n, got, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	tests := []struct {
		name    string
		subject string
		attempt time.Duration
		cancel  time.Duration // cancel the caller's context after this, if set
		want    error
	}{
		{"no responders", "lazy.nobody", 5 * time.Second, 0, transport.ErrNoResponders},
		{"attempt timeout", "lazy.block", 100 * time.Millisecond, 0, transport.ErrTimeout},
		{"caller cancels", "lazy.block", 5 * time.Second, 50 * time.Millisecond, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.cancel > 0 {
				timer := time.AfterFunc(tc.cancel, cancel)
				defer timer.Stop()
			}
			start := time.Now()
			_, err := transport.Request(ctx, client, route(tc.subject), lazyEcho{N: 1}, opts(tc.attempt)...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			// Not a performance bound: the attempt must end by its own
			// deadline or the cancel, long before the caller's 10s.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("returned after %s", d)
			}
		})
	}

	t.Run("closed", func(t *testing.T) {
		closed := connect(t, s.ClientURL())
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := transport.Request(ctx, closed, route("lazy.echo"), lazyEcho{N: 1}, opts(5*time.Second)...)
		if !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	})
}
