// Package natstest starts an embedded nats-server with JetStream for a test
// and connects to it.
package natstest

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/natsembed"
)

// JetStream starts a server for t, connects to it, and returns the server,
// the connection and its JetStream context; all are closed when t ends.
func JetStream(t testing.TB) (*natsembed.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, js := Connect(t, srv)
	return srv, nc, js
}

// Connect opens one more connection to srv for t (a second peer, say).
func Connect(t testing.TB, srv *natsembed.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
