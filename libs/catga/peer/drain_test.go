package peer_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/peer"
)

// TestDrainDelay: once a peer starts to stop, /readyz answers 503 while
// the peer still serves requests, for the drain delay, and only then does
// its port close; the delay is bounded by the shutdown timeout.
func TestDrainDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	tests := []struct {
		name            string
		drain, shutdown time.Duration
		wantAtLeast     time.Duration // readiness 503 with the port open, at least this long
		wantAtMost      time.Duration // the whole stop, at most this long
	}{
		{"delay", 800 * time.Millisecond, 10 * time.Second, 700 * time.Millisecond, 5 * time.Second},
		{"bounded by the shutdown timeout", time.Minute, time.Second, 100 * time.Millisecond, 3 * time.Second},
	}
	srv := startNATS(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sqliteConfig(t, srv)
			cfg.DrainDelay, cfg.ShutdownTimeout = tt.drain, tt.shutdown
			s := startPeer(t, cfg, widgets())
			if code, body := get(t, s.url+peer.PathReady); code != http.StatusOK {
				t.Fatalf("readyz = %d %s before the stop", code, body)
			}
			stopped := make(chan error, 1)
			began := time.Now()
			go func() { stopped <- s.stop() }()

			// Poll: readiness must turn 503 while /healthz still answers.
			client := &http.Client{Timeout: time.Second}
			var notReady, closedAt time.Time
			for closedAt.IsZero() {
				resp, err := client.Get(s.url + peer.PathReady)
				if err != nil {
					closedAt = time.Now()
					break
				}
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable && notReady.IsZero() {
					notReady = time.Now()
				}
				if resp.StatusCode == http.StatusOK && !notReady.IsZero() {
					t.Fatal("readyz answered 200 again after 503")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := <-stopped; err != nil {
				t.Fatalf("stop: %v", err)
			}
			took := time.Since(began)
			switch {
			case notReady.IsZero():
				t.Fatal("the port closed without readyz ever answering 503")
			case closedAt.Sub(notReady) < tt.wantAtLeast:
				t.Fatalf("readyz 503 with the port open for %s, want at least %s", closedAt.Sub(notReady), tt.wantAtLeast)
			case took > tt.wantAtMost:
				t.Fatalf("stop took %s, want at most %s", took, tt.wantAtMost)
			}
		})
	}
}
