package rediscluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/internal/loopback"
)

// ErrMissingBinary: redis-server or redis-cli is not installed.
var ErrMissingBinary = errors.New("catga: redis-server/redis-cli not found: run scripts/install-deps.sh")

// Config describes a cluster. The zero value is 3 masters with one replica
// each and a 1000 ms cluster-node-timeout.
type Config struct {
	Masters     int           // default 3
	NodeTimeout time.Duration // cluster-node-timeout, default 1s
	Ready       time.Duration // how long to wait for cluster_state:ok, default 20s
}

// Node is one redis-server process.
type Node struct {
	Port int
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
	dead bool
}

// Cluster is a running Redis Cluster.
type Cluster struct {
	Nodes       []*Node
	NodeTimeout time.Duration
	dir         string
	host        string // the cluster's own loopback address: see package loopback
	mu          sync.Mutex
}

// Start starts a cluster for t and stops it when t ends. Under -short it
// skips t (saying why); a missing binary fails t.
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs redis-server (a 6-node Redis Cluster): skipped under -short")
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("rediscluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// New starts a cluster; the caller must Close it.
func New(cfg Config) (*Cluster, error) {
	if cfg.Masters == 0 {
		cfg.Masters = 3
	}
	if cfg.NodeTimeout == 0 {
		cfg.NodeTimeout = time.Second
	}
	if cfg.Ready == 0 {
		cfg.Ready = 20 * time.Second
	}
	server, err1 := exec.LookPath("redis-server")
	cli, err2 := exec.LookPath("redis-cli")
	if err1 != nil || err2 != nil {
		return nil, ErrMissingBinary
	}
	dir, err := os.MkdirTemp("", "catga-rediscluster-*")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, NodeTimeout: cfg.NodeTimeout, host: loopback.Host()}
	ports, err := freePorts(c.host, cfg.Masters*2)
	if err != nil {
		c.Close()
		return nil, err
	}
	for _, p := range ports {
		if err := c.startNode(server, p); err != nil {
			c.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Ready)
	defer cancel()
	for _, n := range c.Nodes {
		if err := waitPing(ctx, n.Addr); err != nil {
			c.Close()
			return nil, fmt.Errorf("node %s: %w", n.Addr, err)
		}
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, out)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startNode(server string, port int) error {
	ndir := filepath.Join(c.dir, strconv.Itoa(port))
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(server,
		"--port", strconv.Itoa(port), "--bind", c.host, "--dir", ndir,
		// Announce and dial from the cluster's own address; a node would
		// otherwise learn 127.0.0.1 from its peers and announce that.
		"--cluster-announce-ip", c.host, "--bind-source-addr", c.host,
		// Protected mode only trusts 127.0.0.1; the node listens on
		// loopback alone anyway.
		"--protected-mode", "no",
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(c.NodeTimeout.Milliseconds())),
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		// A replica that never finished its first sync cannot fail over;
		// without this the first sync waits 5 s.
		"--repl-diskless-sync-delay", "0",
		"--logfile", filepath.Join(ndir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server on %d: %w", port, err)
	}
	n := &Node{Port: port, Addr: net.JoinHostPort(c.host, strconv.Itoa(port)), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.done) }() // owned by the node: Close waits on done
	c.Nodes = append(c.Nodes, n)
	return nil
}

// freePorts picks ports on host whose cluster bus port (port+10000) is free too.
func freePorts(host string, n int) ([]int, error) {
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n && tries < 1000; tries++ {
		p := 20000 + rand.IntN(25000)
		if seen[p] || seen[p+10000] || seen[p-10000] {
			continue
		}
		if loopback.Free(host, p) && loopback.Free(host, p+10000) {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	if len(ports) < n {
		return nil, errors.New("rediscluster: no free port pairs")
	}
	return ports, nil
}

func waitPing(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer func() { _ = c.Close() }()
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Addrs returns the addresses of the live nodes.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.Nodes {
		if !n.dead {
			out = append(out, n.Addr)
		}
	}
	return out
}

// Client returns a cluster client over the nodes; the caller closes it.
func (c *Cluster) Client(opts *redis.ClusterOptions) *redis.ClusterClient {
	if opts == nil {
		opts = &redis.ClusterOptions{}
	}
	opts.Addrs = c.Addrs()
	return redis.NewClusterClient(opts)
}

// WaitHealthy waits until every live node reports cluster_state:ok and all
// 16384 slots are served by live masters.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	for {
		err := c.healthy(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rediscluster: not healthy: %w (last: %w)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) healthy(ctx context.Context) error {
	live := map[string]bool{}
	for _, a := range c.Addrs() {
		live[a] = true
	}
	masters := map[string]bool{}
	for a := range live {
		cl := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		info, err := cl.ClusterInfo(ctx).Result()
		var slots []redis.ClusterSlot
		if err == nil {
			slots, err = cl.ClusterSlots(ctx).Result() //nolint:staticcheck // the slot map go-redis routes by
		}
		_ = cl.Close()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state not ok", a)
		}
		covered := 0
		for _, s := range slots {
			if len(s.Nodes) == 0 || !live[s.Nodes[0].Addr] {
				return fmt.Errorf("%s: slots %d-%d served by %v", a, s.Start, s.End, s.Nodes)
			}
			masters[s.Nodes[0].Addr] = true
			covered += s.End - s.Start + 1
		}
		if covered != 16384 {
			return fmt.Errorf("%s: %d slots covered", a, covered)
		}
	}
	// Every live node that is not a master must be a replica in sync, so
	// that killing any master leads to a failover.
	inSync := 0
	for m := range masters {
		cl := redis.NewClient(&redis.Options{Addr: m, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		repl, err := cl.Info(ctx, "replication").Result()
		_ = cl.Close()
		if err != nil {
			return err
		}
		for line := range strings.Lines(repl) {
			if !strings.HasPrefix(line, "slave") || !strings.Contains(line, "state=online") {
				continue
			}
			for r := range live {
				if strings.Contains(line, "port="+r[strings.LastIndex(r, ":")+1:]+",") {
					inSync++
				}
			}
		}
	}
	if want := len(live) - len(masters); inSync < want {
		return fmt.Errorf("%d of %d replicas in sync", inSync, want)
	}
	return nil
}

// MasterFor returns the live node that is the master of key's slot.
func (c *Cluster) MasterFor(ctx context.Context, key string) (*Node, error) {
	m, _, err := c.shard(ctx, key, -1)
	return m, err
}

// shard returns the master and a live replica (nil if none) of key's slot,
// or of slot when key is empty.
func (c *Cluster) shard(ctx context.Context, key string, slot int) (master, replica *Node, err error) {
	addrs := c.Addrs()
	if len(addrs) == 0 {
		return nil, nil, errors.New("rediscluster: no live node")
	}
	cl := redis.NewClient(&redis.Options{Addr: addrs[0], MaxRetries: -1})
	defer func() { _ = cl.Close() }()
	if key != "" {
		s, err := cl.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			return nil, nil, err
		}
		slot = int(s)
	}
	slots, err := cl.ClusterSlots(ctx).Result() //nolint:staticcheck // the slot map go-redis routes by
	if err != nil {
		return nil, nil, err
	}
	byAddr := map[string]*Node{}
	c.mu.Lock()
	for _, n := range c.Nodes {
		if !n.dead {
			byAddr[n.Addr] = n
		}
	}
	c.mu.Unlock()
	for _, s := range slots {
		if slot < s.Start || slot > s.End || len(s.Nodes) == 0 {
			continue
		}
		master = byAddr[s.Nodes[0].Addr]
		if master == nil {
			return nil, nil, fmt.Errorf("rediscluster: slot %d served by %s, not a live node of ours", slot, s.Nodes[0].Addr)
		}
		// CLUSTER SLOTS leaves out replicas that have no data yet; CLUSTER
		// NODES lists them: "<id> <ip:port@bus> <flags> <master id> ...".
		mc := redis.NewClient(&redis.Options{Addr: master.Addr, MaxRetries: -1})
		nodes, err := mc.ClusterNodes(ctx).Result()
		_ = mc.Close()
		if err != nil {
			return nil, nil, err
		}
		for line := range strings.Lines(nodes) {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != s.Nodes[0].ID || strings.Contains(f[2], "fail") {
				continue
			}
			addr, _, _ := strings.Cut(f[1], "@")
			if n := byAddr[addr]; n != nil {
				replica = n
			}
		}
		return master, replica, nil
	}
	return nil, nil, fmt.Errorf("rediscluster: slot %d not served", slot)
}

// KillMaster SIGKILLs the master serving key's slot and returns it. The
// cluster fails over to its replica after about NodeTimeout; use
// WaitHealthy to wait for that.
func (c *Cluster) KillMaster(ctx context.Context, key string) (*Node, error) {
	n, err := c.MasterFor(ctx, key)
	if err != nil {
		return nil, err
	}
	c.Kill(n)
	return n, nil
}

// KillMasterOfSlot is KillMaster for a hash slot.
func (c *Cluster) KillMasterOfSlot(ctx context.Context, slot int) (*Node, error) {
	n, _, err := c.shard(ctx, "", slot)
	if err != nil {
		return nil, err
	}
	c.Kill(n)
	return n, nil
}

// Failover makes the replica of key's master take over gracefully (CLUSTER
// FAILOVER) and waits until it serves the slot. It returns the new master.
func (c *Cluster) Failover(ctx context.Context, key string) (*Node, error) {
	var replica *Node
	for replica == nil { // the replica may not be gossiped yet
		_, r, err := c.shard(ctx, key, -1)
		if err != nil {
			return nil, err
		}
		replica = r
		if replica == nil {
			select {
			case <-ctx.Done():
				return nil, errors.New("rediscluster: no live replica to fail over to")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	cl := redis.NewClient(&redis.Options{Addr: replica.Addr, MaxRetries: -1})
	defer func() { _ = cl.Close() }()
	if err := cl.ClusterFailover(ctx).Err(); err != nil {
		return nil, fmt.Errorf("rediscluster: CLUSTER FAILOVER on %s: %w", replica.Addr, err)
	}
	for {
		m, _, err := c.shard(ctx, key, -1)
		if err == nil && m == replica {
			return replica, c.WaitHealthy(ctx)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rediscluster: failover to %s: %w", replica.Addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill SIGKILLs one node and waits for the process to exit.
func (c *Cluster) Kill(n *Node) {
	c.mu.Lock()
	n.dead = true
	c.mu.Unlock()
	_ = n.cmd.Process.Kill()
	<-n.done
}

// Close kills every process and removes the data directory.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		c.Kill(n)
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

// Logs returns the tail of each node's log, for failure messages.
func (c *Cluster) Logs() string {
	var b bytes.Buffer
	for _, n := range c.Nodes {
		data, _ := os.ReadFile(filepath.Join(c.dir, strconv.Itoa(n.Port), "redis.log"))
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "== %s\n%s\n", n.Addr, data)
	}
	return b.String()
}
