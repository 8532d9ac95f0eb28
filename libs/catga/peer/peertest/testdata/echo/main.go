// Command echo is the smallest service on the chassis, for peertest's own
// tests: GET /pid answers the process id; GET /env/{name} the value of an
// environment variable. With ECHO_HANG=1 it owns a goroutine that ignores
// the shutdown, so its shutdown lasts the whole shutdown timeout.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/catga-go/catga/libs/catga/peer"
)

func main() {
	if err := peer.RunProcess(peer.Service{Name: "echo", Setup: setup}); err != nil {
		os.Exit(1)
	}
}

func setup(_ context.Context, p *peer.Peer) error {
	p.HTTP.HandleFunc("GET /pid", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, os.Getpid())
	})
	p.HTTP.HandleFunc("GET /env/{name}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, os.Getenv(r.PathValue("name")))
	})
	if os.Getenv("ECHO_HANG") == "1" {
		p.Go("hang", func(context.Context) error { select {} })
	}
	return nil
}
