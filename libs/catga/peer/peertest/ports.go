package peertest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/memory"
)

// Ports are a service's handlers served in the test's own process, for
// the tests of its ports package: no peer process, no NATS server.
type Ports struct {
	// HTTP is a client of the HTTP handlers, served by an httptest.Server.
	HTTP Client
	// NATS is a client of the NATS handlers, served over an in-memory bus
	// (which keeps the transport's contract).
	NATS transport.Transport
}

// ServePorts mounts the service's HTTP handlers with mount and serves its
// NATS handlers with serve (a nil func: none), with a new mediator, until
// t ends.
func ServePorts(t testing.TB, mount func(*http.ServeMux), serve func(transport.Transport, *mediator.Mediator) error) Ports {
	t.Helper()
	mux := http.NewServeMux()
	if mount != nil {
		mount(mux)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	bus := memory.NewBus()
	server, client := memory.New(bus), memory.New(bus)
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	if serve != nil {
		if err := serve(server, mediator.New()); err != nil {
			t.Fatalf("peertest: serve: %v", err)
		}
	}
	return Ports{HTTP: Client{URL: srv.URL}, NATS: client}
}
