package peer_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/peer"
)

// TestConsoleOnPeer: a peer whose service registered sagas serves the saga
// console unless the config switches it off; an open live stream does not
// hold the peer's shutdown.
func TestConsoleOnPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	srv := startNATS(t)
	for _, tc := range []struct {
		name    string
		console string
		svc     peer.Service
		want    int
		actions bool
	}{
		{"on by default", "", widgets(), http.StatusOK, true},
		{"read-only", peer.ConsoleReadOnly, widgets(), http.StatusOK, false},
		{"off", peer.ConsoleOff, widgets(), http.StatusNotFound, false},
		{"no sagas registered", peer.ConsoleOn, peer.Service{Name: "widgets"}, http.StatusNotFound, false},
	} {
		id := strings.ReplaceAll(tc.name, " ", "-")
		t.Run(tc.name, func(t *testing.T) {
			cfg := sqliteConfig(t, srv)
			cfg.Console = tc.console
			s := startPeer(t, cfg, tc.svc)
			code, body := get(t, s.url+peer.PathConsole)
			if code != tc.want {
				t.Fatalf("GET %s = %d, want %d", peer.PathConsole, code, tc.want)
			}
			if code != http.StatusOK {
				return
			}
			if !strings.Contains(body, "widgets · saga console") {
				t.Fatalf("console page: %.400s", body)
			}
			if code, body := post(t, s.url+"/sagas/"+id); code != http.StatusOK {
				t.Fatalf("saga: %d %s", code, body)
			}
			_, body = get(t, s.url+peer.PathConsole+"sagas/"+id)
			if !strings.Contains(body, "badge s-completed") {
				t.Fatalf("saga page: %.400s", body)
			}
			resp, err := http.Post(s.url+peer.PathConsole+"sagas/"+id+"/retry", "application/x-www-form-urlencoded", strings.NewReader("confirm="+id))
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if want := map[bool]int{true: http.StatusConflict, false: http.StatusForbidden}[tc.actions]; resp.StatusCode != want {
				t.Fatalf("retry of a completed saga: %d, want %d", resp.StatusCode, want)
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+peer.PathConsole+"live?state=completed", nil)
			stream, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = stream.Body.Close() }()
			start := time.Now()
			if err := s.stop(); err != nil {
				t.Fatalf("shutdown with a console stream open: %v", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("shutdown took %s with a console stream open", took)
			}
		})
	}
}
