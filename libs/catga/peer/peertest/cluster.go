package peertest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// Cluster is peers of one service over one event store and an embedded
// NATS server, as a component test runs them.
type Cluster struct {
	// Backend is the peers' event store and the test's view of it.
	Backend Backend
	// NATS is the peers' server.
	NATS *natsembed.Server
	// Binary and Options are what the peers run.
	Binary  string
	Options Options
	// Peers are the peers started with the cluster, named "<Name>-1"..
	// (Name defaulting to the binary's name).
	Peers []*Process

	started int // peers started, for the next one's name
}

// StartCluster starts an embedded NATS server and n peers of binary over
// b, with opts (its NATSURL set to the server, b.Env put before its Env),
// all stopped when t ends.
func StartCluster(t testing.TB, binary string, n int, b Backend, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{Backend: b, NATS: NATS(t), Binary: binary}
	opts.NATSURL = c.NATS.ClientURL()
	opts.Env = append(append([]string(nil), b.Env...), opts.Env...)
	c.Options = opts
	for range n {
		c.Peers = append(c.Peers, c.Start(t))
	}
	return c
}

// Start starts one more peer as the cluster's, numbered on from them, that
// stops when t ends (which may end before the cluster's test). Call it
// from one goroutine at a time.
func (c *Cluster) Start(t testing.TB) *Process {
	t.Helper()
	base := c.Options.Name
	if base == "" {
		base = filepath.Base(c.Binary)
	}
	c.started++
	opts := c.Options
	opts.Name = fmt.Sprintf("%s-%d", base, c.started)
	return Start(t, c.Binary, opts)
}

// Transport connects a NATS transport named name to the cluster's server,
// closed when t ends: the test's own client of the peers' routes and
// topics.
func (c *Cluster) Transport(t testing.TB, name string) *natstransport.Transport {
	t.Helper()
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{c.NATS.ClientURL()}, Name: name})
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// ID makes an id unique to the test (its name with base), for tests that
// share a store that outlives each of them.
func ID(t testing.TB, base string) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + base
}
