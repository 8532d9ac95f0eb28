package main

import (
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
	"time"

	"github.com/redis/go-redis/v9"
)

// cluster is a 6-node Redis Cluster of local redis-server processes (the
// library's test helper is internal to libs/catga, so the bench has its own
// minimal copy).
type cluster struct {
	addrs []string
	cmds  []*exec.Cmd
	dir   string
}

func startCluster(ctx context.Context) (*cluster, error) {
	server, err1 := exec.LookPath("redis-server")
	cli, err2 := exec.LookPath("redis-cli")
	if err1 != nil || err2 != nil {
		return nil, errors.New("redis-server/redis-cli not found: run scripts/install-deps.sh")
	}
	dir, err := os.MkdirTemp("", "catga-bench-redis-*")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir}
	for tries := 0; len(c.addrs) < 6 && tries < 1000; tries++ {
		p := 20000 + rand.IntN(25000)
		if !free(p) || !free(p+10000) {
			continue
		}
		ndir := filepath.Join(dir, strconv.Itoa(p))
		if err := os.MkdirAll(ndir, 0o755); err != nil {
			c.close()
			return nil, err
		}
		cmd := exec.Command(server, "--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--dir", ndir,
			"--cluster-enabled", "yes", "--cluster-node-timeout", "1000", "--save", "", "--appendonly", "no",
			"--repl-diskless-sync-delay", "0", "--logfile", filepath.Join(ndir, "redis.log"))
		if err := cmd.Start(); err != nil {
			c.close()
			return nil, err
		}
		c.cmds = append(c.cmds, cmd)
		c.addrs = append(c.addrs, fmt.Sprintf("127.0.0.1:%d", p))
	}
	if len(c.addrs) < 6 {
		c.close()
		return nil, errors.New("no free ports")
	}
	for _, a := range c.addrs {
		if err := waitFor(ctx, func() bool {
			cl := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
			defer cl.Close()
			return cl.Ping(ctx).Err() == nil
		}); err != nil {
			c.close()
			return nil, err
		}
	}
	args := append(append([]string{"--cluster", "create"}, c.addrs...), "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		c.close()
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, out)
	}
	for _, a := range c.addrs {
		if err := waitFor(ctx, func() bool {
			cl := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
			defer cl.Close()
			info, err := cl.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		}); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func waitFor(ctx context.Context, ok func() bool) error {
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Millisecond):
		}
	}
	return nil
}

func free(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func (c *cluster) close() {
	for _, cmd := range c.cmds {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	_ = os.RemoveAll(c.dir)
}
