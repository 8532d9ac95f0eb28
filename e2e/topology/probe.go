package topology

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// ProbeWrite is one write of the Redis probe.
type ProbeWrite struct {
	At  time.Time
	Err string // empty when the write succeeded
}

// RedisProbe is a writer inside the test's network that writes saga
// records through the chassis' Redis saga store (see
// internal/redisprobe), so a Redis failover is measured as the peers
// live it, go-redis' slot map included.
type RedisProbe struct {
	c *testcontainers.DockerContainer
}

// StartRedisProbe builds the probe (a static binary), runs it in a
// container from the Redis image on the network and returns at once; it
// writes into hash slots lo..hi every `every`, for `total`.
func (topo *Topology) StartRedisProbe(ctx context.Context, t testing.TB, lo, hi int, every, total time.Duration) (*RedisProbe, error) {
	bin := filepath.Join(t.TempDir(), "redisprobe")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/catga-go/catga/e2e/topology/internal/redisprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the redis probe: %w\n%s", err, out)
	}
	nw := &testcontainers.DockerNetwork{Name: topo.Network}
	c, err := topo.run(ctx, t, nw, Image("redis"), "redisprobe",
		testcontainers.WithFiles(testcontainers.ContainerFile{HostFilePath: bin, ContainerFilePath: "/redisprobe", FileMode: 0o755}),
		testcontainers.WithEntrypoint("/redisprobe"),
		testcontainers.WithCmd("-addrs", strings.Join(topo.RedisAddrs, ","), "-lo", strconv.Itoa(lo), "-hi", strconv.Itoa(hi),
			"-every", every.String(), "-for", total.String()),
		testcontainers.WithWaitStrategy(wait.ForLog("ok ").WithStartupTimeout(30*time.Second)),
	)
	if err != nil {
		return nil, err
	}
	return &RedisProbe{c: c}, nil
}

// Wait waits for the probe to finish and returns its writes.
func (p *RedisProbe) Wait(ctx context.Context) ([]ProbeWrite, error) {
	for {
		st, err := p.c.State(ctx)
		if err != nil {
			return nil, err
		}
		if !st.Running {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	r, err := p.c.Logs(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var writes []ProbeWrite
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), " ", 3)
		if len(f) < 2 || (f[0] != "ok" && f[0] != "err") {
			continue
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		w := ProbeWrite{At: time.Unix(0, ns)}
		if f[0] == "err" {
			w.Err = "error"
			if len(f) == 3 {
				w.Err = f[2]
			}
		}
		writes = append(writes, w)
	}
	return writes, nil
}
