package natsembed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/catga-go/catga/libs/catga/internal/loopback"
)

// Cluster is a set of embedded servers routed to each other.
type Cluster struct {
	Servers []*Server
	configs []Config
}

// StartCluster starts n clustered servers on free loopback ports, with
// JetStream, and waits until every server routes to every other one.
func StartCluster(n int) (*Cluster, error) {
	if n < 1 {
		return nil, errors.New("catga: natsembed: cluster needs at least one server")
	}
	host := loopback.Host() // the cluster's own address: see package loopback
	ports, err := loopback.Ports(host, 2*n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	routes := make([]string, n)
	for i := range n {
		routes[i] = "nats-route://" + net.JoinHostPort(host, strconv.Itoa(ports[n+i]))
	}
	for i := range n {
		cfg := Config{
			Host: host, Name: "catga-" + strconv.Itoa(i), Port: ports[i],
			ClusterName: "catga", ClusterPort: ports[n+i], Routes: routes,
		}
		c.configs = append(c.configs, cfg)
		s, err := Start(cfg)
		if err != nil {
			c.Shutdown()
			return nil, err
		}
		c.Servers = append(c.Servers, s)
	}
	if err := c.waitRoutes(10 * time.Second); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) waitRoutes(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, s := range c.Servers {
			if s != nil && s.Running() && s.NumRoutes() < len(c.Servers)-1 {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("catga: natsembed: cluster routes not formed within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URLs are the client URLs of every server, for a client's server list.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.configs))
	for i, cfg := range c.configs {
		out[i] = "nats://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	}
	return out
}

// Kill shuts server i down, as a crash would for its clients.
func (c *Cluster) Kill(i int) {
	if s := c.Servers[i]; s != nil {
		s.Shutdown()
		c.Servers[i] = nil
	}
}

// Shutdown stops every server still running.
func (c *Cluster) Shutdown() {
	for i := range c.Servers {
		c.Kill(i)
	}
}
