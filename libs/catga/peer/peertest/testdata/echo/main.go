// Command echo is the smallest service on the chassis, for peertest's own
// tests: GET /pid answers the process id; GET /env/{name} the value of an
// environment variable; POST /echo/{stream} appends its JSON body
// ({"text": ...}) to the stream as an Echoed event and answers it; the
// NATS route "echo.slow" answers its request after 300ms. With
// ECHO_HANG=1 it owns a goroutine that ignores the shutdown, so its
// shutdown lasts the whole shutdown timeout.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/libs/catga/transport"
)

// Slow is the echo.slow route: a request that is in flight for a while.
type Slow struct{ N int }

// Echoed is the event POST /echo/{stream} appends.
type Echoed struct {
	Text string `json:"text"`
}

func main() {
	if err := peer.RunProcess(peer.Service{Name: "echo", Events: events, Setup: setup}); err != nil {
		os.Exit(1)
	}
}

func events(reg *eventstore.Registry) error { return eventstore.Register[Echoed](reg, "echo.echoed") }

func setup(_ context.Context, p *peer.Peer) error {
	p.HTTP.HandleFunc("GET /pid", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, os.Getpid())
	})
	p.HTTP.HandleFunc("GET /env/{name}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, os.Getenv(r.PathValue("name")))
	})
	p.HTTP.HandleFunc("POST /echo/{stream}", func(w http.ResponseWriter, r *http.Request) {
		var e Echoed
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := p.Events.Append(r.Context(), r.PathValue("stream"), eventstore.Any, []eventstore.Event{{Data: e}}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	})
	if err := mediator.Handle(p.Mediator, func(ctx context.Context, s Slow) (Slow, error) {
		select {
		case <-time.After(300 * time.Millisecond):
			return s, nil
		case <-ctx.Done():
			return Slow{}, ctx.Err()
		}
	}); err != nil {
		return err
	}
	if _, err := transport.Serve(p.Transport, p.Mediator, transport.NewRoute[Slow, Slow]("echo.slow")); err != nil {
		return err
	}
	if os.Getenv("ECHO_HANG") == "1" {
		p.Go("hang", func(context.Context) error { select {} })
	}
	return nil
}
