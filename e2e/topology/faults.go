package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// This file holds the faults the infrastructure scenarios inject: killing
// a NATS node or a Redis node, and cutting a peer off the network.

// kill sends SIGKILL to c (`docker kill`).
func kill(ctx context.Context, c *testcontainers.DockerContainer, what string) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.ContainerKill(ctx, c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("kill %s: %w", what, err)
	}
	return nil
}

// NATSNodes is the number of NATS nodes.
func (topo *Topology) NATSNodes() int { return len(topo.nats) }

// KillNATS kills NATS node i (`docker kill`): its clients lose their
// connection at once and must move to the other nodes.
func (topo *Topology) KillNATS(ctx context.Context, i int) error {
	return kill(ctx, topo.nats[i], fmt.Sprintf("nats-%d", i))
}

// RestartNATS starts NATS node i again (same container, so the same
// JetStream store) and waits until it reports healthy, which for a
// JetStream node means caught up with its streams' leaders.
func (topo *Topology) RestartNATS(ctx context.Context, i int) error {
	c := topo.nats[i]
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("restart nats-%d: %w", i, err)
	}
	if err := topo.waitHTTP(ctx, c, "8222/tcp", "/healthz", time.Minute); err != nil {
		return fmt.Errorf("restart nats-%d: %w%s", i, err, logTail(c))
	}
	return nil
}

// Stream is a JetStream stream as one NATS node reports it (monitoring
// endpoint /jsz).
type Stream struct {
	Name      string
	Replicas  int    // configured replicas
	Leader    string // server name of the leader
	Followers []Follower
	Consumers []Consumer
}

// Follower is a replica of a stream other than its leader.
type Follower struct {
	Name    string
	Current bool
	Offline bool
}

// Consumer is a durable consumer of a stream.
type Consumer struct {
	Name, Filter, Leader string
}

// NATSStreams lists the streams NATS node i holds, with their replicas
// and consumers, from its monitoring endpoint.
func (topo *Topology) NATSStreams(ctx context.Context, i int) ([]Stream, error) {
	var jsz struct {
		Accounts []struct {
			Streams []struct {
				Name    string `json:"name"`
				Cluster struct {
					Leader   string `json:"leader"`
					Replicas []struct {
						Name    string `json:"name"`
						Current bool   `json:"current"`
						Offline bool   `json:"offline"`
					} `json:"replicas"`
				} `json:"cluster"`
				Config struct {
					Replicas int `json:"num_replicas"`
				} `json:"config"`
				Consumers []struct {
					Name   string `json:"name"`
					Config struct {
						Filter string `json:"filter_subject"`
					} `json:"config"`
					Cluster struct {
						Leader string `json:"leader"`
					} `json:"cluster"`
				} `json:"consumer_detail"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := topo.monitor(ctx, i, "/jsz?accounts=true&streams=true&consumers=true&config=true", &jsz); err != nil {
		return nil, err
	}
	var out []Stream
	for _, a := range jsz.Accounts {
		for _, s := range a.Streams {
			st := Stream{Name: s.Name, Replicas: s.Config.Replicas, Leader: s.Cluster.Leader}
			for _, r := range s.Cluster.Replicas {
				st.Followers = append(st.Followers, Follower{r.Name, r.Current, r.Offline})
			}
			for _, c := range s.Consumers {
				st.Consumers = append(st.Consumers, Consumer{c.Name, c.Config.Filter, c.Cluster.Leader})
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// NATSClients is the number of client connections NATS node i holds.
func (topo *Topology) NATSClients(ctx context.Context, i int) (int, error) {
	var connz struct {
		N int `json:"num_connections"`
	}
	err := topo.monitor(ctx, i, "/connz", &connz)
	return connz.N, err
}

// monitor GETs path on NATS node i's monitoring port into out.
func (topo *Topology) monitor(ctx context.Context, i int, path string, out any) error {
	endpoint, err := topo.endpoint(ctx, topo.nats[i], "8222/tcp")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("nats-%d %s: %s", i, path, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out)
}

// RedisNode is one node of the Redis Cluster as CLUSTER NODES shows it.
type RedisNode struct {
	Index    int    // container index (for RedisCLI, KillRedis); -1 if unknown
	ID       string // cluster node id
	Addr     string // ip:port on the test's network
	Master   bool
	MasterID string   // of a replica
	Failed   bool     // flagged fail (or fail?)
	Slots    [][2]int // ranges held, inclusive
}

// RedisNodes reads the cluster's nodes through node via (which must be up).
func (topo *Topology) RedisNodes(ctx context.Context, via int) ([]RedisNode, error) {
	out, err := topo.RedisCLI(ctx, via, "cluster", "nodes")
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	for i, c := range topo.redis {
		if ip, err := c.ContainerIP(ctx); err == nil && ip != "" {
			index[ip] = i
		}
	}
	var nodes []RedisNode
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		// <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := RedisNode{Index: -1, ID: f[0], Addr: addr, Master: strings.Contains(f[2], "master"),
			Failed: strings.Contains(f[2], "fail")}
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		if ip, _, ok := strings.Cut(addr, ":"); ok {
			if i, ok := index[ip]; ok {
				n.Index = i
			}
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being migrated
				continue
			}
			var lo, hi int
			if a, b, ok := strings.Cut(s, "-"); ok {
				_, _ = fmt.Sscan(a, &lo)
				_, _ = fmt.Sscan(b, &hi)
			} else {
				_, _ = fmt.Sscan(s, &lo)
				hi = lo
			}
			n.Slots = append(n.Slots, [2]int{lo, hi})
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// RedisNodeCount is the number of Redis nodes.
func (topo *Topology) RedisNodeCount() int { return len(topo.redis) }

// KillRedis kills Redis node i (`docker kill`).
func (topo *Topology) KillRedis(ctx context.Context, i int) error {
	return kill(ctx, topo.redis[i], fmt.Sprintf("redis-%d", i))
}

// HasSlot reports whether n holds hash slot s.
func (n RedisNode) HasSlot(s int) bool {
	for _, r := range n.Slots {
		if s >= r[0] && s <= r[1] {
			return true
		}
	}
	return false
}

// Disconnect cuts p off the topology's network (`docker network
// disconnect`): it keeps running but reaches nothing (NATS, Redis,
// PostgreSQL) and nothing reaches it, the test included.
func (topo *Topology) Disconnect(ctx context.Context, p *Peer) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.NetworkDisconnect(ctx, topo.Network, client.NetworkDisconnectOptions{
		Container: p.Container.GetContainerID(), Force: true,
	}); err != nil {
		return fmt.Errorf("disconnect %s: %w", p.Name, err)
	}
	return nil
}

// Reconnect puts p back on the network and waits until it answers /readyz
// again on its (possibly new) mapped port.
func (topo *Topology) Reconnect(ctx context.Context, p *Peer) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.NetworkConnect(ctx, topo.Network, client.NetworkConnectOptions{
		Container: p.Container.GetContainerID(), EndpointConfig: &network.EndpointSettings{},
	}); err != nil {
		return fmt.Errorf("reconnect %s: %w", p.Name, err)
	}
	if err := topo.waitHTTP(ctx, p.Container, "8080/tcp", "/readyz", time.Minute); err != nil {
		return fmt.Errorf("reconnect %s: not ready: %w%s", p.Name, err, logTail(p.Container))
	}
	endpoint, err := topo.endpoint(ctx, p.Container, "8080/tcp")
	if err != nil {
		return err
	}
	p.setURL(endpoint)
	return nil
}

// Pause freezes every process of p (`docker pause`); Unpause thaws them.
// Its connections stay open: requests sent to it wait instead of failing.
func (topo *Topology) Pause(ctx context.Context, p *Peer) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.ContainerPause(ctx, p.Container.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", p.Name, err)
	}
	return nil
}

// Unpause thaws p after [Topology.Pause].
func (topo *Topology) Unpause(ctx context.Context, p *Peer) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.ContainerUnpause(ctx, p.Container.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause %s: %w", p.Name, err)
	}
	return nil
}

// Logs is p's whole log (stdout and stderr), the JSON lines of the chassis.
func (topo *Topology) Logs(ctx context.Context, p *Peer) (string, error) {
	r, err := p.Container.Logs(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = r.Close() }()
	b, err := io.ReadAll(r)
	return string(b), err
}
