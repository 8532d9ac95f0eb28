package peertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/peer/peertest"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
	"github.com/catga-go/catga/libs/catga/transport"
)

// echoed is testdata/echo's event, as the test reads it.
type echoed struct {
	Text string `json:"text"`
}

// The peers of a cluster write to the backend's store; the test's view of
// it reads what they wrote (in the service's schema on PostgreSQL), and the
// fence binds to it.
func TestClusterOverEachBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs processes; skipped in -short mode")
	}
	bin := peertest.Build(t, "testdata/echo")
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[echoed](reg, "echo.echoed")
	var names []string
	peertest.EachBackend(t, "echo", reg, func(t *testing.T, b peertest.Backend) {
		names = append(names, b.Name)
		c := peertest.StartCluster(t, bin, 2, b, peertest.Options{Env: []string{"CATGA_LOG_LEVEL=debug"}})
		if len(c.Peers) != 2 || c.Peers[1].Name != "echo-2" || c.Binary != bin || c.Options.NATSURL != c.NATS.ClientURL() {
			t.Fatalf("cluster of %d peers, binary %s, NATS %s; want 2 (echo-1, echo-2), %s, %s", len(c.Peers), c.Binary, c.Options.NATSURL, bin, c.NATS.ClientURL())
		}
		stream := peertest.ID(t, "stream")
		for i, p := range c.Peers {
			var got echoed
			if status := p.Client().JSON(t, "POST", "/echo/"+stream, echoed{Text: fmt.Sprint(i)}, &got); status != http.StatusOK || got.Text != fmt.Sprint(i) {
				t.Fatalf("peer %d: %d %+v", i, status, got)
			}
		}
		recs, err := b.Store.Load(t.Context(), stream, 0)
		if err != nil || len(recs) != 2 || recs[0].Event != (echoed{"0"}) || recs[1].Event != (echoed{"1"}) {
			t.Fatalf("the test's view loads %+v (%v), want the two peers' events", recs, err)
		}
		if status, body := c.Peers[1].Client().Do(t, "GET", "/env/CATGA_LOG_LEVEL", ""); status != http.StatusOK || string(body) != "debug" {
			t.Fatalf("peer sees CATGA_LOG_LEVEL %d %q, want debug", status, body)
		}
		if _, err := storefence.New(b.Store); err != nil {
			t.Fatal(err)
		}
		if tr := c.Transport(t, "echo-test"); !tr.Conn().IsConnected() {
			t.Fatal("the test's transport is not connected")
		}
	})
	if fmt.Sprint(names) != "[sqlite postgres]" {
		t.Fatalf("ran over %v, want [sqlite postgres]", names)
	}
}

func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusTeapot)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"request": r.Method + " " + r.URL.Path, "type": r.Header.Get("Content-Type"), "key": r.Header.Get("Idempotency-Key"), "body": string(body),
		})
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name    string
		in      any
		header  http.Header
		want    map[string]string
		rawWant string
	}{
		{"value as JSON, with header", struct {
			N int `json:"n"`
		}{7}, http.Header{"Idempotency-Key": {"k1"}}, map[string]string{"request": "PUT /x", "type": "application/json", "key": "k1", "body": `{"n":7}`}, ""},
		{"string as it is", `{"n":`, nil, map[string]string{"request": "PUT /x", "type": "application/json", "key": "", "body": `{"n":`}, ""},
		{"no body", nil, nil, map[string]string{"request": "PUT /x", "type": "", "key": "", "body": ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]string
			c := peertest.Client{URL: srv.URL, Header: tt.header}
			if status := c.JSON(t, "PUT", "/x", tt.in, &got); status != http.StatusTeapot || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("%d %v, want 418 %v", status, got, tt.want)
			}
		})
	}
	status, body := peertest.Client{URL: srv.URL}.Do(t, "POST", "/y", "raw")
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil || status != http.StatusTeapot || got["request"] != "POST /y" || got["body"] != "raw" {
		t.Fatalf("Do: %d %s", status, body)
	}
}

func TestEventually(t *testing.T) {
	calls := 0
	start := time.Now()
	peertest.Eventually(t, 5*time.Second, "third call", func() bool { calls++; return calls == 3 })
	if calls != 3 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("%d calls in %v, want 3, polled 50ms apart", calls, time.Since(start))
	}
}

func TestID(t *testing.T) {
	t.Run("a b/c", func(t *testing.T) {
		if got := peertest.ID(t, "o1"); got != "TestID-a_b-c-o1" {
			t.Fatalf("ID = %q", got)
		}
	})
}

type ping struct{ N int }

type pong struct{ N int }

var pingRoute = transport.NewRoute[ping, pong]("peertest.ping")

func TestServePorts(t *testing.T) {
	p := peertest.ServePorts(t,
		func(mux *http.ServeMux) {
			mux.HandleFunc("GET /n", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "7") })
		},
		func(tr transport.Transport, m *mediator.Mediator) error {
			if err := mediator.Handle(m, func(_ context.Context, p ping) (pong, error) { return pong{p.N + 1}, nil }); err != nil {
				return err
			}
			_, err := transport.Serve(tr, m, pingRoute)
			return err
		})
	if status, body := p.HTTP.Do(t, "GET", "/n", ""); status != http.StatusOK || string(body) != "7" {
		t.Fatalf("GET /n: %d %q", status, body)
	}
	if got, err := transport.Request(t.Context(), p.NATS, pingRoute, ping{1}); err != nil || got.N != 2 {
		t.Fatalf("request: %+v, %v", got, err)
	}
}

type slow struct{ N int }

// A peer killed while sends are in flight at it: they are retried on the
// survivor and all answered.
func TestSendsAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs processes; skipped in -short mode")
	}
	bin := peertest.Build(t, "testdata/echo")
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[echoed](reg, "echo.echoed")
	c := peertest.StartCluster(t, bin, 1, peertest.SQLite(t, "echo", reg), peertest.Options{})
	victim := c.Start(t)
	if victim.Name != "echo-2" {
		t.Errorf("the cluster's second peer is named %s, want echo-2", victim.Name)
	}
	client := c.Transport(t, "echo-test")
	route := transport.NewRoute[slow, slow]("echo.slow")
	const n = 20
	got := make([]int, n)
	errs := peertest.SendsAcrossKill(t, victim, n, func(ctx context.Context, i int, opts ...transport.SendOption) error {
		r, err := transport.Request(ctx, client, route, slow{i}, opts...)
		got[i] = r.N
		return err
	})
	for i, err := range errs {
		if err != nil || got[i] != i {
			t.Errorf("send %d: %d, %v", i, got[i], err)
		}
	}
	select {
	case <-victim.Exited():
	default:
		t.Fatal("the victim was not killed")
	}
}
