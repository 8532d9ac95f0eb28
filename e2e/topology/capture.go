package topology

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// NATSURL is the nats:// URL of NATS node i (0, 1 or 2) on the host: its
// client port mapped there, for a test that talks to the cluster as a
// client (to capture and republish messages). A client connecting through
// it must ignore the cluster's gossiped addresses (nats.go:
// IgnoreDiscoveredServers), which are the nodes' addresses on the test's
// network.
func (topo *Topology) NATSURL(ctx context.Context, i int) (string, error) {
	if i < 0 || i >= len(topo.nats) {
		return "", fmt.Errorf("NATS node %d: the cluster has %d", i, len(topo.nats))
	}
	endpoint, err := topo.endpoint(ctx, topo.nats[i], "4222/tcp")
	if err != nil {
		return "", fmt.Errorf("NATS node %d: mapped port: %w", i, err)
	}
	return "nats://" + strings.TrimPrefix(endpoint, "http://"), nil
}

// Capture records every message published on some subjects, as a client
// of the cluster sees it (subject, headers, body), in arrival order.
type Capture struct {
	nc   *nats.Conn
	mu   sync.Mutex
	msgs []*nats.Msg
}

// Capture connects to NATS node 0 through its mapped port and records
// what is published on subjects (wildcards allowed) until Close. When it
// returns, the server knows the subscriptions.
func (topo *Topology) Capture(ctx context.Context, subjects ...string) (*Capture, error) {
	u, err := topo.NATSURL(ctx, 0)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(u, nats.Name("e2e-capture"), nats.IgnoreDiscoveredServers())
	if err != nil {
		return nil, fmt.Errorf("capture: connect %s: %w", u, err)
	}
	c := &Capture{nc: nc}
	for _, s := range subjects {
		if _, err := nc.Subscribe(s, func(m *nats.Msg) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.msgs = append(c.msgs, m)
		}); err != nil {
			nc.Close()
			return nil, fmt.Errorf("capture: subscribe %s: %w", s, err)
		}
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("capture: %w", err)
	}
	return c, nil
}

// Messages returns what was captured so far; the caller must not modify
// the messages.
func (c *Capture) Messages() []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*nats.Msg(nil), c.msgs...)
}

// Conn is the capture's connection, for republishing.
func (c *Capture) Conn() *nats.Conn { return c.nc }

// Close ends the capture and its connection.
func (c *Capture) Close() { c.nc.Close() }
