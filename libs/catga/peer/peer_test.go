package peer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/internal/pgtest"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/transport"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// WidgetMade is the test service's event; WidgetSeen the one its consumer
// of WidgetMade appends.
type (
	WidgetMade struct{ ID string }
	WidgetSeen struct{ ID string }
)

// widgets is a tiny service on the chassis: POST /widgets/{id} appends
// WidgetMade (relayed to NATS by the outbox); its consumer appends one
// WidgetSeen per WidgetMade through the inbox; GET /seen/{id} counts them;
// POST /sagas/{id} runs a one-step saga.
func widgets() peer.Service {
	return peer.Service{
		Name: "widgets",
		Events: func(reg *eventstore.Registry) error {
			return errors.Join(eventstore.Register[WidgetMade](reg, "widget.made"), eventstore.Register[WidgetSeen](reg, "widget.seen"))
		},
		Setup: func(_ context.Context, p *peer.Peer) error {
			p.HTTP.HandleFunc("POST /widgets/{id}", func(w http.ResponseWriter, r *http.Request) {
				_, err := p.Events.Append(r.Context(), "widget-"+r.PathValue("id"), eventstore.NoStream,
					[]eventstore.Event{{Data: WidgetMade{ID: r.PathValue("id")}}})
				if err != nil {
					http.Error(w, err.Error(), http.StatusConflict)
					return
				}
				w.WriteHeader(http.StatusCreated)
			})
			p.HTTP.HandleFunc("GET /seen/{id}", func(w http.ResponseWriter, r *http.Request) {
				recs, err := p.Events.Load(r.Context(), "seen-"+r.PathValue("id"), 0)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				_, _ = fmt.Fprint(w, len(recs))
			})
			_, err := p.Transport.Consume(transport.ConsumerConfig{Name: "widgets_made", Subject: "catga.evt.widget.made"}.WithDefaults(),
				p.Events.InboxHandler("widgets_made", func(ctx context.Context, es eventstore.Store, d transport.Delivery) error {
					var made WidgetMade
					if err := json.Unmarshal(d.Data, &made); err != nil {
						return err
					}
					_, err := es.Append(ctx, "seen-"+made.ID, eventstore.Any, []eventstore.Event{{Data: WidgetSeen(made)}})
					return err
				}))
			if err != nil {
				return err
			}
			s, err := saga.Register(p.Sagas, saga.Definition[WidgetMade]{Name: "widget", Steps: []saga.Step[WidgetMade]{
				{Name: "noop", Action: func(context.Context, *WidgetMade) error { return nil }},
			}})
			if err != nil {
				return err
			}
			p.HTTP.HandleFunc("POST /sagas/{id}", func(w http.ResponseWriter, r *http.Request) {
				rec, err := s.Run(r.Context(), r.PathValue("id"), WidgetMade{ID: r.PathValue("id")})
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				_, _ = fmt.Fprint(w, rec.State)
			})
			return nil
		},
	}
}

// started is a peer running in the test process.
type started struct {
	p    *peer.Peer
	url  string
	stop func() error // cancels Run and returns its error
}

func startPeer(t *testing.T, cfg peer.Config, svc peer.Service, opts ...peer.Option) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *peer.Peer, 1)
	done := make(chan error, 1)
	go func() {
		done <- peer.Run(ctx, cfg, svc, append(opts, peer.WithReady(func(p *peer.Peer) { ready <- p }))...)
	}()
	var s started
	select {
	case s.p = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before the peer was ready: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("peer not ready within 30s")
	}
	s.url = "http://" + s.p.Addr().String()
	var once sync.Once
	var runErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("Run did not return within 30s of cancellation")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = s.stop() })
	return &s
}

func startNATS(t *testing.T) *natsembed.Server {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

func sqliteConfig(t *testing.T, srv *natsembed.Server) peer.Config {
	return peer.Config{
		NATSURLs: []string{srv.ClientURL()}, HTTPAddr: "127.0.0.1:0", Version: "1.2.3",
		SQLitePath: filepath.Join(t.TempDir(), "widgets.db"), ShutdownTimeout: 10 * time.Second,
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond until it holds or 15s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunAnnouncesThePeerAndShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	srv := startNATS(t)
	s := startPeer(t, sqliteConfig(t, srv), widgets())

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var info micro.Info
	eventually(t, "discovery INFO", func() bool {
		msg, err := nc.Request("$SRV.INFO.widgets", nil, time.Second)
		return err == nil && json.Unmarshal(msg.Data, &info) == nil && info.Name == "widgets"
	})
	if info.Version != "1.2.3" {
		t.Fatalf("discovery INFO = %+v, want version 1.2.3", info)
	}
	if code, body := get(t, s.url+peer.PathHealth); code != 200 {
		t.Fatalf("healthz = %d %s", code, body)
	}
	if code, body := get(t, s.url+peer.PathReady); code != 200 || !strings.Contains(body, `"nats":"ok"`) {
		t.Fatalf("readyz = %d %s", code, body)
	}

	if err := s.stop(); err != nil {
		t.Fatalf("Run = %v, want a clean shutdown", err)
	}
	if _, err := nc.Request("$SRV.PING.widgets", nil, 200*time.Millisecond); err == nil {
		t.Fatal("the stopped peer still answers discovery pings")
	}
	if resp, err := http.Get(s.url + peer.PathHealth); err == nil {
		_ = resp.Body.Close()
		t.Fatal("the stopped peer still serves HTTP")
	}
}

func TestRunRejectsInvalidConfigBeforeConnecting(t *testing.T) {
	err := peer.Run(context.Background(), peer.Config{HTTPAddr: "127.0.0.1:0", SQLitePath: filepath.Join(t.TempDir(), "x.db")}, peer.Service{Name: "order"})
	if err == nil || !strings.Contains(err.Error(), "CATGA_NATS_URL") {
		t.Fatalf("Run = %v, want the missing NATS URL named", err)
	}
}

func TestRunRefusesAConfigOfAnotherService(t *testing.T) {
	err := peer.Run(context.Background(), peer.Config{Service: "payment", NATSURLs: []string{"nats://127.0.0.1:1"}}, peer.Service{Name: "order"})
	if err == nil || !strings.Contains(err.Error(), `"payment", not "order"`) {
		t.Fatalf("Run = %v, want the mismatch named", err)
	}
}

func TestSetupErrorStopsThePeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	srv := startNATS(t)
	svc := peer.Service{Name: "widgets", Setup: func(context.Context, *peer.Peer) error { return errors.New("no widgets today") }}
	err := peer.Run(context.Background(), sqliteConfig(t, srv), svc)
	if err == nil || !strings.Contains(err.Error(), "setup: no widgets today") {
		t.Fatalf("Run = %v, want the setup error", err)
	}
}

func TestFailedGoroutineStopsThePeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	srv := startNATS(t)
	var (
		mu          sync.Mutex
		steps       []string
		waiterSawAt = -1 // how many shutdown steps had begun when the other goroutine's context ended
	)
	svc := peer.Service{Name: "widgets", Setup: func(_ context.Context, p *peer.Peer) error {
		p.Go("waiter", func(ctx context.Context) error {
			<-ctx.Done()
			mu.Lock()
			waiterSawAt = len(steps)
			mu.Unlock()
			return nil
		})
		p.Go("projector", func(context.Context) error { return errors.New("projection broke") })
		return nil
	}}
	observe := peer.WithShutdownObserver(func(step string) {
		mu.Lock()
		steps = append(steps, step)
		mu.Unlock()
	})
	done := make(chan error, 1)
	go func() { done <- peer.Run(context.Background(), sqliteConfig(t, srv), svc, observe) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "projector: projection broke") {
			t.Fatalf("Run = %v, want the goroutine's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop within 30s of its goroutine failing")
	}
	// The failure stops the peer in the usual order: the other goroutines
	// keep their context (and the event store) until the "goroutines" step.
	mu.Lock()
	defer mu.Unlock()
	if waiterSawAt < 1 || steps[waiterSawAt-1] != "goroutines" {
		t.Fatalf("the other goroutine's context ended after steps %v, want right after the goroutines step began", steps[:max(waiterSawAt, 0)])
	}
}
