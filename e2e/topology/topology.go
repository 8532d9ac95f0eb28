package topology

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
)

// Label marks every container and network the package makes; its value
// is the run's id. scripts/e2e-clean.sh removes what carries it.
const Label = "org.catga.e2e"

// Services are the services of the platform, each run as [Options.Peers]
// peers.
var Services = []string{"order", "payment", "inventory", "notification"}

// Options shape the topology. The zero value is the production one.
type Options struct {
	// Peers is the number of peers of every service; 0 means 3.
	Peers int
	// Env adds environment variables to every peer of a service (key: the
	// service name).
	Env map[string]map[string]string
	// StartTimeout bounds the start of the whole topology; 0 means 3 min.
	StartTimeout time.Duration
	// NoTraces leaves out the trace receiver (e2e/cmd/otlpsink): by
	// default every peer exports its spans to it over OTLP, and
	// [Topology.Spans] reads them.
	NoTraces bool
}

// Topology is a running topology. Its containers and network are removed
// by the test's cleanup.
type Topology struct {
	// Network is the Docker network every container is on.
	Network string
	// NATSURLs, RedisAddrs and DatabaseURL are the peers' configuration,
	// in addresses of that network.
	NATSURLs    []string
	RedisAddrs  []string
	DatabaseURL string
	// Peers holds the peers of every service, by service name.
	Peers map[string][]*Peer

	nats     []*testcontainers.DockerContainer
	redis    []*testcontainers.DockerContainer
	postgres *testcontainers.DockerContainer
	sink     *testcontainers.DockerContainer // nil with Options.NoTraces
	runID    string
	owned    owned
	hostOnce sync.Once
	host     string // where mapped ports are reached, see endpoint

	spansMu   sync.Mutex
	spans     []Span // read from the receiver so far
	spansNext int    // the receiver's cursor after them
}

// Peer is one service peer.
type Peer struct {
	Service   string
	Name      string // container name, unique per run
	Container *testcontainers.DockerContainer

	mu  sync.Mutex
	url string
}

// URL is the peer's HTTP base URL on the host, e.g.
// http://127.0.0.1:32768; it changes when the peer is restarted.
func (p *Peer) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.url
}

func (p *Peer) setURL(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.url = u
}

// Start starts the topology for t and registers its removal with
// t.Cleanup. When Docker is unreachable or an image is missing it fails t
// under `make e2e` and skips it otherwise (see the package doc).
func Start(t testing.TB, opts Options) *Topology {
	t.Helper()
	if opts.Peers == 0 {
		opts.Peers = 3
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	// Ryuk's image cannot be pulled here; cleanup is ours (see the package doc).
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.StartTimeout)
	defer cancel()
	requireDocker(t, ctx)

	topo := &Topology{Peers: map[string][]*Peer{}, runID: strconv.FormatInt(time.Now().UnixNano(), 36)}
	images := []string{Image("nats"), Image("redis"), Image("postgres")}
	for _, s := range Services {
		images = append(images, Image(s))
	}
	if !opts.NoTraces {
		images = append(images, Image(sinkName))
	}
	if err := requireImages(ctx, images); err != nil {
		unavailable(t, err.Error())
	}

	removeOnInterrupt(t, &topo.owned)
	nw, err := network.New(ctx, network.WithLabels(topo.labels()))
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("topology: network: %v", err)
	}
	topo.owned.mu.Lock()
	topo.owned.network = nw
	topo.owned.mu.Unlock()
	topo.Network = nw.Name

	started := time.Now()
	if err := topo.startNATS(ctx, t, nw); err != nil {
		t.Fatalf("topology: NATS cluster: %v", err)
	}
	if err := topo.startRedis(ctx, t, nw); err != nil {
		t.Fatalf("topology: Redis Cluster: %v", err)
	}
	if err := topo.startPostgres(ctx, t, nw); err != nil {
		t.Fatalf("topology: PostgreSQL: %v", err)
	}
	infra := "NATS x3, Redis Cluster x6, PostgreSQL"
	if !opts.NoTraces {
		if err := topo.startSink(ctx, t, nw); err != nil {
			t.Fatalf("topology: trace receiver: %v", err)
		}
		infra += ", trace receiver"
	}
	t.Logf("topology: %s ready in %s", infra, time.Since(started).Round(time.Millisecond))

	started = time.Now()
	if err := topo.startPeers(ctx, t, nw, opts); err != nil {
		t.Fatalf("topology: peers: %v", err)
	}
	t.Logf("topology: %d peers of each of %d services ready in %s", opts.Peers, len(Services), time.Since(started).Round(time.Millisecond))
	return topo
}

// labels are those of every resource of this run.
func (topo *Topology) labels() map[string]string {
	return map[string]string{Label: topo.runID}
}

// run starts one container on nw, registered for removal (with its
// volumes) before its error is checked, so a half-started one goes too.
func (topo *Topology) run(ctx context.Context, t testing.TB, nw *testcontainers.DockerNetwork, image, name string, opts ...testcontainers.ContainerCustomizer) (*testcontainers.DockerContainer, error) {
	opts = append([]testcontainers.ContainerCustomizer{
		testcontainers.WithName(name + "-" + topo.runID),
		testcontainers.WithLabels(topo.labels()),
		network.WithNetwork([]string{name}, nw),
	}, opts...)
	c, err := testcontainers.Run(ctx, image, opts...)
	testcontainers.CleanupContainer(t, c)
	topo.owned.addContainer(c)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w%s", name, image, err, logTail(c))
	}
	return c, nil
}

// startPeers starts opts.Peers peers of every service at once and waits
// until each answers /readyz.
func (topo *Topology) startPeers(ctx context.Context, t testing.TB, nw *testcontainers.DockerNetwork, opts Options) error {
	type result struct {
		peer *Peer
		err  error
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		results []result
	)
	for _, s := range Services {
		for i := range opts.Peers {
			wg.Go(func() {
				p, err := topo.startPeer(ctx, t, nw, s, i, opts.Env[s])
				mu.Lock()
				defer mu.Unlock()
				results = append(results, result{p, err})
			})
		}
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		topo.Peers[r.peer.Service] = append(topo.Peers[r.peer.Service], r.peer)
	}
	return errors.Join(errs...)
}

// StartPeer starts one more peer of service, with no configuration other
// than the others' (a scale-up).
func (topo *Topology) StartPeer(ctx context.Context, t testing.TB, service string, env map[string]string) (*Peer, error) {
	nw := &testcontainers.DockerNetwork{Name: topo.Network}
	p, err := topo.startPeer(ctx, t, nw, service, len(topo.Peers[service]), env)
	if err != nil {
		return nil, err
	}
	topo.Peers[service] = append(topo.Peers[service], p)
	return p, nil
}

func (topo *Topology) startPeer(ctx context.Context, t testing.TB, nw *testcontainers.DockerNetwork, service string, i int, extra map[string]string) (*Peer, error) {
	name := fmt.Sprintf("%s-%d", service, i)
	env := map[string]string{
		"CATGA_NATS_URL":      strings.Join(topo.NATSURLs, ","),
		"CATGA_REDIS_ADDRS":   strings.Join(topo.RedisAddrs, ","),
		"CATGA_DATABASE_URL":  topo.DatabaseURL,
		"CATGA_HTTP_ADDR":     ":8080",
		"CATGA_NATS_REPLICAS": "3", // every stream and bucket on all three NATS nodes
		"OTEL_SERVICE_NAME":   service,
	}
	if topo.sink != nil {
		for k, v := range traceEnv() {
			env[k] = v
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	c, err := topo.run(ctx, t, nw, Image(service), name,
		testcontainers.WithEnv(env),
		testcontainers.WithExposedPorts("8080/tcp"),
	)
	if err != nil {
		return nil, err
	}
	if err := topo.waitHTTP(ctx, c, "8080/tcp", "/readyz", 2*time.Minute); err != nil {
		return nil, fmt.Errorf("%s: not ready: %w%s", name, err, logTail(c))
	}
	endpoint, err := topo.endpoint(ctx, c, "8080/tcp")
	if err != nil {
		return nil, fmt.Errorf("%s: mapped port: %w", name, err)
	}
	return &Peer{Service: service, Name: name + "-" + topo.runID, Container: c, url: endpoint}, nil
}
