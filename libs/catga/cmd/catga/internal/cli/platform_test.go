package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/cmd/catga/internal/cli"
	"github.com/catga-go/catga/libs/catga/internal/natstest"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/transport"
)

// platform is a running platform: embedded NATS and in-process peers of
// "order" (a saga whose compensation fails while broken, a consumer that
// dead-letters while broken) and "payment" (one route).
type platform struct {
	nats   *natsembed.Server
	env    map[string]string
	order  *peer.Peer
	pay    *peer.Peer
	sagas  *saga.Saga[job]
	broken atomic.Bool // the compensation of step 1 and the widget consumer fail
	made   atomic.Int64
}

// job is the test saga's data. Mode says what its second step does.
type job struct {
	N    int
	Mode string // "": succeed, "reject": be refused, "block": wait until cancelled
}

type ping struct{ N int }
type pong struct{ N int }

var pingRoute = transport.NewRoute[ping, pong]("payment.ping")

func startPlatform(t *testing.T, redisAddrs []string) *platform {
	t.Helper()
	if testing.Short() {
		t.Skip("runs NATS and peers: skipped in -short mode")
	}
	srv, _, _ := natstest.JetStream(t)
	pl := &platform{nats: srv, env: map[string]string{"CATGA_NATS_URL": srv.ClientURL()}}
	if len(redisAddrs) > 0 {
		pl.env["CATGA_REDIS_ADDRS"] = strings.Join(redisAddrs, ",")
	}
	pl.broken.Store(true)
	cfg := func(svc string) peer.Config {
		return peer.Config{NATSURLs: []string{srv.ClientURL()}, RedisAddrs: redisAddrs, HTTPAddr: "127.0.0.1:0", Version: "1.2.3",
			SQLitePath: filepath.Join(t.TempDir(), svc+".db"), ShutdownTimeout: 5 * time.Second}
	}
	pl.order = startPeer(t, cfg("order"), peer.Service{Name: "order", Setup: func(_ context.Context, p *peer.Peer) error {
		step := saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}
		s, err := saga.Register(p.Sagas, saga.Definition[job]{Name: "job", Steps: []saga.Step[job]{
			{Name: "reserve", Action: func(context.Context, *job) error { return nil },
				Compensate: func(context.Context, *job) error {
					if pl.broken.Load() {
						return errors.New("warehouse unreachable")
					}
					return nil
				}, CompensationRetry: step},
			{Name: "charge", Action: func(ctx context.Context, j *job) error {
				switch j.Mode {
				case "reject":
					return catga.Reject("declined", "card declined")
				case "block":
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}, Retry: step},
		}})
		pl.sagas = s
		if err != nil {
			return err
		}
		_, err = p.Transport.Consume(transport.ConsumerConfig{Name: "order_widget-made", Subject: "catga.evt.widget.made"}.WithDefaults(),
			func(context.Context, transport.Delivery) error {
				if pl.broken.Load() {
					return catga.Permanent(errors.New("widget factory closed"))
				}
				pl.made.Add(1)
				return nil
			})
		return err
	}})
	pl.pay = startPeer(t, cfg("payment"), peer.Service{Name: "payment", Setup: func(_ context.Context, p *peer.Peer) error {
		_ = mediator.Handle(p.Mediator, func(_ context.Context, r ping) (pong, error) { return pong(r), nil })
		_, err := transport.Serve(p.Transport, p.Mediator, pingRoute)
		return err
	}})
	return pl
}

func startPeer(t *testing.T, cfg peer.Config, svc peer.Service) *peer.Peer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *peer.Peer, 1)
	done := make(chan error, 1)
	go func() { done <- peer.Run(ctx, cfg, svc, peer.WithReady(func(p *peer.Peer) { ready <- p })) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("peer %s stopped with %v", svc.Name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("peer %s did not stop within 20s", svc.Name)
		}
	})
	select {
	case p := <-ready:
		return p
	case err := <-done:
		t.Fatalf("peer %s: %v", svc.Name, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("peer %s not ready within 30s", svc.Name)
	}
	return nil
}

// result is one run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// catgaCLI runs the command line in process against pl, with stdin.
func (pl *platform) catgaCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := cli.Main(ctx, args, cli.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, func(k string) string { return pl.env[k] })
	t.Logf("catga %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return result{code, out.String(), errOut.String()}
}

// must runs args and fails the test unless the exit code is want.
func (pl *platform) must(t *testing.T, want int, stdin string, args ...string) result {
	t.Helper()
	r := pl.catgaCLI(t, stdin, args...)
	if r.code != want {
		t.Fatalf("catga %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("--json output does not decode into %T: %v\n%s", v, err, r.stdout)
	}
	return v
}

// compact is raw JSON without the indentation --json adds.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// eventually polls cond every 50ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
