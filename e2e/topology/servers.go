package topology

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Credentials of the test's PostgreSQL: the topology is private to one test.
const (
	pgUser     = "catga"
	pgPassword = "catga-e2e"
	pgDatabase = "catga"
)

// startNATS starts three nats-server nodes routed to each other with
// JetStream, then waits until each reports healthy (JetStream meta leader
// elected), which needs all three up: they start first, then are awaited.
func (topo *Topology) startNATS(ctx context.Context, t testing.TB, nw *testcontainers.DockerNetwork) error {
	const nodes = 3
	var routes []string
	for i := range nodes {
		routes = append(routes, fmt.Sprintf("nats://nats-%d:6222", i))
		topo.NATSURLs = append(topo.NATSURLs, fmt.Sprintf("nats://nats-%d:4222", i))
	}
	for i := range nodes {
		name := fmt.Sprintf("nats-%d", i)
		c, err := topo.run(ctx, t, nw, Image("nats"), name,
			testcontainers.WithCmd("--config", "/nats-server.conf", "-js", "--store_dir", "/data",
				"--server_name", name, "--cluster_name", "catga", "--cluster", "nats://0.0.0.0:6222",
				"--routes", strings.Join(routes, ",")),
			testcontainers.WithExposedPorts("4222/tcp", "8222/tcp"),
			testcontainers.WithWaitStrategy(wait.ForLog("Server is ready").WithStartupTimeout(time.Minute)),
		)
		if err != nil {
			return err
		}
		topo.nats = append(topo.nats, c)
	}
	for _, c := range topo.nats {
		if err := topo.waitHTTP(ctx, c, "8222/tcp", "/healthz", time.Minute); err != nil {
			return fmt.Errorf("JetStream not healthy: %w%s", err, logTail(c))
		}
	}
	return nil
}

// startRedis starts six cluster-enabled redis-server nodes and joins them
// with `redis-cli --cluster create` (3 masters, 1 replica each), then waits
// until every node reports cluster_state:ok. A node silent for 1 s
// (cluster-node-timeout) is failed over: its replica takes over about 2 s
// later, which keeps a master's death under the 5 s write outage
// TestScenarioKillRedisMaster allows.
func (topo *Topology) startRedis(ctx context.Context, t testing.TB, nw *testcontainers.DockerNetwork) error {
	const nodes = 6
	var ips []string
	for i := range nodes {
		name := fmt.Sprintf("redis-%d", i)
		c, err := topo.run(ctx, t, nw, Image("redis"), name,
			testcontainers.WithCmd("redis-server", "--port", "6379", "--cluster-enabled", "yes",
				"--cluster-node-timeout", "1000", "--appendonly", "yes", "--protected-mode", "no"),
			testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections").WithStartupTimeout(time.Minute)),
		)
		if err != nil {
			return err
		}
		ip, err := c.ContainerIP(ctx)
		if err != nil {
			return fmt.Errorf("%s: address: %w", name, err)
		}
		topo.redis = append(topo.redis, c)
		ips = append(ips, ip+":6379")
		topo.RedisAddrs = append(topo.RedisAddrs, name+":6379")
	}
	args := append([]string{"--cluster", "create"}, ips...)
	if out, err := topo.RedisCLI(ctx, 0, append(args, "--cluster-replicas", "1", "--cluster-yes")...); err != nil {
		return fmt.Errorf("cluster create: %w\n%s", err, out)
	}
	deadline := time.Now().Add(time.Minute)
	for i := range topo.redis {
		for {
			out, err := topo.RedisCLI(ctx, i, "cluster", "info")
			if err == nil && strings.Contains(out, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				if err != nil {
					return fmt.Errorf("redis-%d: cluster info: %w", i, err)
				}
				return fmt.Errorf("redis-%d: cluster not ok after 1m:\n%s", i, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// startPostgres starts PostgreSQL and waits until it accepts TCP
// connections (pg_isready on 127.0.0.1: the official image's init server
// listens only on its socket, so this waits for the real one).
func (topo *Topology) startPostgres(ctx context.Context, t testing.TB, nw *testcontainers.DockerNetwork) error {
	c, err := topo.run(ctx, t, nw, Image("postgres"), "postgres",
		testcontainers.WithEnv(map[string]string{
			"POSTGRES_USER": pgUser, "POSTGRES_PASSWORD": pgPassword, "POSTGRES_DB": pgDatabase,
		}),
		testcontainers.WithWaitStrategy(wait.ForExec([]string{"pg_isready", "-q", "-h", "127.0.0.1", "-U", pgUser, "-d", pgDatabase}).
			WithStartupTimeout(time.Minute).WithPollInterval(200*time.Millisecond)),
	)
	if err != nil {
		return err
	}
	topo.postgres = c
	topo.DatabaseURL = fmt.Sprintf("postgres://%s:%s@postgres:5432/%s?sslmode=disable", pgUser, pgPassword, pgDatabase)
	return nil
}

// RedisCLI runs redis-cli with args inside Redis node i and returns its
// output; an exit code other than 0 is an error.
func (topo *Topology) RedisCLI(ctx context.Context, i int, args ...string) (string, error) {
	code, r, err := topo.redis[i].Exec(ctx, append([]string{"redis-cli"}, args...), tcexec.Multiplexed())
	if err != nil {
		return "", err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if code != 0 {
		return string(out), fmt.Errorf("redis-cli %s: exit code %d", strings.Join(args, " "), code)
	}
	return string(out), nil
}

// waitHTTP polls path on c's mapped port until it answers 200, for up to
// timeout; the error holds the last answer.
func (topo *Topology) waitHTTP(ctx context.Context, c *testcontainers.DockerContainer, port, path string, timeout time.Duration) error {
	endpoint, err := topo.endpoint(ctx, c, port)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s%s: no 200 within %s (last: %s)", endpoint, path, timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logTail is the end of c's log, to explain why it did not start.
func logTail(c *testcontainers.DockerContainer) string {
	if c == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		return ""
	}
	defer func() { _ = r.Close() }()
	b, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\nlast log lines:\n" + strings.Join(lines, "\n")
}

// endpoint is http://host:port of c's port mapped on the host. The host is
// testcontainers' guess (TESTCONTAINERS_HOST_OVERRIDE when set), unless
// nothing answers there while 127.0.0.1 does: testcontainers takes a
// process that sees /.dockerenv for one inside a container and picks the
// default gateway, which is wrong when the engine runs beside it (as on the
// CI machines). Chosen once per topology, on the first mapped port.
func (topo *Topology) endpoint(ctx context.Context, c *testcontainers.DockerContainer, port string) (string, error) {
	mapped, err := c.MappedPort(ctx, port)
	if err != nil {
		return "", err
	}
	topo.hostOnce.Do(func() {
		guess, err := c.Host(ctx)
		if err != nil {
			guess = "localhost"
		}
		topo.host = guess
		if guess == "localhost" || guess == "127.0.0.1" || os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") != "" {
			return
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			for _, h := range []string{guess, "127.0.0.1"} {
				conn, err := net.DialTimeout("tcp", net.JoinHostPort(h, mapped.Port()), time.Second)
				if err == nil {
					_ = conn.Close()
					topo.host = h
					return
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	return "http://" + net.JoinHostPort(topo.host, mapped.Port()), nil
}
