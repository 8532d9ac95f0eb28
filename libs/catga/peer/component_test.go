package peer_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/internal/pgtest"
	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/libs/catga/rediscluster"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
)

// TestComponent boots the widgets service on each pair of stores (SQLite
// and NATS KV, PostgreSQL and one Redis node, SQLite and a Redis Cluster) and runs
// it through the chassis: HTTP in, an event appended, relayed by the
// outbox to NATS, consumed once through the inbox, a saga run on the saga
// store, health and metrics served.
func TestComponent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server, PostgreSQL and redis-server; skipped in -short mode")
	}
	tests := []struct {
		name       string
		config     func(t *testing.T, srv *natsembed.Server) peer.Config
		events     string
		sagaRecord func(t *testing.T, cfg peer.Config, id string) bool // whether the saga store holds saga id
	}{
		{"sqlite and nats kv", sqliteConfig, "sqlite", func(t *testing.T, cfg peer.Config, id string) bool {
			nc, err := nats.Connect(cfg.NATSURLs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			kv, err := js.KeyValue(context.Background(), "catga_sagas_widgets")
			if err != nil {
				t.Fatalf("saga bucket: %v", err)
			}
			_, err = kv.Get(context.Background(), natskv.Key(id))
			return err == nil
		}},
		{"postgres and redis", func(t *testing.T, srv *natsembed.Server) peer.Config {
			cfg := sqliteConfig(t, srv)
			cfg.SQLitePath = ""
			cfg.DatabaseURL = pgtest.URL(t)
			cfg.RedisAddrs = []string{redistest.Start(t).Options().Addr}
			return cfg
		}, "postgres", inRedis},
		{"sqlite and a redis cluster", func(t *testing.T, srv *natsembed.Server) peer.Config {
			cfg := sqliteConfig(t, srv)
			cfg.RedisAddrs = rediscluster.Start(t, rediscluster.Config{}).Addrs()
			return cfg
		}, "sqlite", inRedis},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startNATS(t)
			cfg := tt.config(t, srv)
			a := startPeer(t, cfg, widgets())
			if got := a.p.Events.Backend(); got != tt.events {
				t.Fatalf("event store %s, want %s", got, tt.events)
			}
			// A second peer of the service shares its stores.
			b := startPeer(t, cfg, widgets())

			if code, body := post(t, a.url+"/widgets/w1"); code != http.StatusCreated {
				t.Fatalf("POST /widgets/w1 = %d %s", code, body)
			}
			eventually(t, "WidgetMade relayed and consumed", func() bool {
				_, body := get(t, b.url+"/seen/w1")
				return body == "1"
			})
			if code, body := post(t, b.url+"/sagas/s1"); code != 200 || body != "completed" {
				t.Fatalf("saga = %d %s, want completed", code, body)
			}
			if !tt.sagaRecord(t, cfg, "s1") {
				t.Fatal("the saga is not in the configured saga store")
			}
			checkFence(t, a.p, b.p)
			if code, body := get(t, a.url+peer.PathReady); code != 200 {
				t.Fatalf("readyz = %d %s", code, body)
			}
			code, metrics := get(t, b.url+peer.PathMetrics)
			for _, want := range []string{"catga_outbox_pending", "catga_outbox_lag_seconds", "catga_saga_outcomes_total",
				`saga="widget"`, "catga_saga_duration_seconds", "http_server_request_duration_seconds"} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics (%d) lacks %s", code, want)
				}
			}
			checkOnce(t, a.p, b.p)
			for _, s := range []*started{a, b} {
				if err := s.stop(); err != nil {
					t.Fatalf("stop: %v", err)
				}
			}
		})
	}
}

func TestReadyzFailsWithoutNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	srv := startNATS(t)
	s := startPeer(t, sqliteConfig(t, srv), widgets())
	if code, body := get(t, s.url+peer.PathReady); code != 200 {
		t.Fatalf("readyz = %d %s", code, body)
	}
	srv.Shutdown()
	var body string
	// The transport and the saga store hold their own connections, which
	// notice the loss independently: wait until both report it.
	eventually(t, "readyz 503 naming NATS and the saga store", func() bool {
		var code int
		code, body = get(t, s.url+peer.PathReady)
		return code == http.StatusServiceUnavailable &&
			strings.Contains(body, `"nats":"not connected`) && strings.Contains(body, `"sagas":"not connected`)
	})
	if code, _ := get(t, s.url+peer.PathHealth); code != 200 {
		t.Fatalf("healthz = %d, want 200: the process is alive", code)
	}
}

// TestShutdownOrder checks each step of the shutdown finds the steps
// before it done: HTTP refused before NATS drains, NATS closed before the
// saga engine hands off, the engine closed before the peer's goroutines
// stop, which end before the stores close; and an HTTP request in flight
// when shutdown begins still gets its answer.
func TestShutdownOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	srv := startNATS(t)
	var (
		mu         sync.Mutex
		steps      []string
		violations []string
		p          *peer.Peer
		goroutine  = make(chan struct{}) // closed when the peer's goroutine returns
		release    = make(chan struct{}) // lets the in-flight request finish
		inFlight   = make(chan struct{})
	)
	svc := widgets()
	setup := svc.Setup
	svc.Setup = func(ctx context.Context, pp *peer.Peer) error {
		p = pp
		pp.Go("waiter", func(ctx context.Context) error {
			<-ctx.Done()
			close(goroutine)
			return nil
		})
		pp.HTTP.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
			close(inFlight)
			<-release
			_, _ = w.Write([]byte("done"))
		})
		return setup(ctx, pp)
	}
	cfg := sqliteConfig(t, srv)
	observe := func(step string) {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, step)
		fail := func(what string) { violations = append(violations, step+": "+what) }
		closed := func(ch chan struct{}) bool {
			select {
			case <-ch:
				return true
			default:
				return false
			}
		}
		switch step {
		case "http":
			close(release) // Shutdown waits for the in-flight request
		case "nats":
			if c, err := net.DialTimeout("tcp", p.Addr().String(), time.Second); err == nil {
				_ = c.Close()
				fail("HTTP still accepts connections")
			}
			if p.Transport.Conn().IsClosed() {
				fail("NATS closed already")
			}
		case "sagas":
			if !p.Transport.Conn().IsClosed() {
				fail("NATS not drained yet")
			}
		case "goroutines":
			if err := p.Sagas.Start(); err == nil {
				fail("saga engine still open")
			}
			if closed(goroutine) {
				fail("goroutines stopped early")
			}
		case "stores":
			if !closed(goroutine) {
				fail("goroutine still running")
			}
			if err := p.Events.Ping(context.Background()); err != nil {
				fail("event store closed early: " + err.Error())
			}
		case "telemetry":
			if err := p.Events.Ping(context.Background()); err == nil {
				fail("event store still open")
			}
		}
	}
	s := startPeer(t, cfg, svc, peer.WithShutdownObserver(observe))
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get(s.url + "/slow")
		if err != nil {
			answer <- err.Error()
			return
		}
		defer func() { _ = resp.Body.Close() }()
		answer <- resp.Status
	}()
	<-inFlight
	if err := s.stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := <-answer; got != "200 OK" {
		t.Errorf("in-flight request got %q, want 200 OK", got)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"http", "relay", "nats", "sagas", "goroutines", "stores", "telemetry"}
	if !slices.Equal(steps, want) {
		t.Errorf("shutdown steps %v, want %v", steps, want)
	}
	for _, v := range violations {
		t.Error(v)
	}
}

// checkFence applies one saga step through a's fence, then the same step
// through b's: the store's fence (shared by the peers) applies it once.
func checkFence(t *testing.T, a, b *peer.Peer) {
	t.Helper()
	op := saga.Op{Saga: "s9", Key: "s9/0/1", Epoch: 1}
	for i, p := range []*peer.Peer{a, b} {
		f, err := p.Events.Fence()
		if err != nil {
			t.Fatal(err)
		}
		adm, err := f.Apply(context.Background(), op, func(ctx context.Context, es eventstore.Store) error {
			_, err := es.Append(ctx, "seen-fenced", eventstore.Any, []eventstore.Event{{Data: WidgetSeen{ID: "fenced"}}})
			return err
		})
		if want := []saga.Admission{saga.Apply, saga.Duplicate}[i]; err != nil || adm != want {
			t.Fatalf("Apply #%d = %v, %v; want %v", i+1, adm, err, want)
		}
	}
	if recs, err := a.Events.Load(context.Background(), "seen-fenced", 0); err != nil || len(recs) != 1 {
		t.Fatalf("fenced stream has %d events (%v), want 1", len(recs), err)
	}
}

// checkOnce processes one message id through a's inbox, then through b's:
// the second finds it processed, and its effect does not run.
func checkOnce(t *testing.T, a, b *peer.Peer) {
	t.Helper()
	for i, p := range []*peer.Peer{a, b} {
		err := p.Events.Once(context.Background(), "widgets_once", "msg-1", func(ctx context.Context, es eventstore.Store) error {
			_, err := es.Append(ctx, "seen-once", eventstore.Any, []eventstore.Event{{Data: WidgetSeen{ID: "once"}}})
			return err
		})
		if want := []error{nil, inbox.ErrDuplicate}[i]; !errors.Is(err, want) {
			t.Fatalf("Once #%d = %v, want %v", i+1, err, want)
		}
	}
	// An effect that fails leaves nothing behind: neither its append nor
	// the inbox record, so a redelivery runs it again.
	boom := errors.New("boom")
	for range 2 {
		err := a.Events.Once(context.Background(), "widgets_once", "msg-2", func(ctx context.Context, es eventstore.Store) error {
			if _, err := es.Append(ctx, "seen-once", eventstore.Any, []eventstore.Event{{Data: WidgetSeen{ID: "once"}}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Once with a failing effect = %v, want boom", err)
		}
	}
	if recs, err := a.Events.Load(context.Background(), "seen-once", 0); err != nil || len(recs) != 1 {
		t.Fatalf("seen-once has %d events (%v), want 1", len(recs), err)
	}
}

// inRedis reports whether the Redis saga store (a node or a cluster) holds
// saga id.
func inRedis(t *testing.T, cfg peer.Config, id string) bool {
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: cfg.RedisAddrs})
	defer func() { _ = c.Close() }()
	n, err := c.Exists(context.Background(), "catga:widgets:saga:{"+id+"}").Result()
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	return n == 1
}

// TestShutdownBoundedByTimeout: a request that never finishes holds HTTP
// only for its budget; Run still returns within ShutdownTimeout, having
// handed off the saga leases and flushed telemetry (both steps reached
// with time left).
func TestShutdownBoundedByTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	srv := startNATS(t)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	inFlight := make(chan struct{})
	svc := widgets()
	setup := svc.Setup
	svc.Setup = func(ctx context.Context, p *peer.Peer) error {
		p.HTTP.HandleFunc("GET /hang", func(http.ResponseWriter, *http.Request) {
			close(inFlight)
			<-hang // a handler that ignores shutdown
		})
		return setup(ctx, p)
	}
	cfg := sqliteConfig(t, srv)
	const timeout = 2 * time.Second
	cfg.ShutdownTimeout = timeout
	var mu sync.Mutex
	reached := map[string]time.Time{}
	s := startPeer(t, cfg, svc, peer.WithShutdownObserver(func(step string) {
		mu.Lock()
		reached[step] = time.Now()
		mu.Unlock()
	}))
	go func() {
		if resp, err := http.Get(s.url + "/hang"); err == nil {
			_ = resp.Body.Close()
		}
	}()
	<-inFlight
	start := time.Now()
	_ = s.stop() // the hung request makes the http step fail; the bound is what counts
	if took := time.Since(start); took > timeout+500*time.Millisecond {
		t.Fatalf("shutdown took %s with a hung request, want at most about %s", took, timeout)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, step := range []string{"sagas", "telemetry"} {
		at, ok := reached[step]
		if !ok || at.Sub(start) > timeout*9/10 {
			t.Errorf("step %s reached %v after shutdown began (reached %v), want within %s", step, at.Sub(start), ok, timeout*9/10)
		}
	}
}
