package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/internal/loopback"
)

// envTestPeer makes the test binary a stand-in peer process: an HTTP server
// on that address answering /healthz and echoing POST /echo with its name.
const envTestPeer = "CATGA_DEV_TEST_PEER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(envTestPeer); addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
		mux.HandleFunc("GET /console/", func(http.ResponseWriter, *http.Request) {})
		// A stream that never ends on its own, as a console's live updates.
		mux.HandleFunc("GET /console/live", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "event: update\ndata: x\n\n")
			_ = http.NewResponseController(w).Flush()
			<-r.Context().Done()
		})
		mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Peer", addr)
			_, _ = io.Copy(w, r.Body)
		})
		fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, mux))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// startTestPeer runs a stand-in peer process on addr.
func startTestPeer(t *testing.T, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envTestPeer+"="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// eventually polls cond every 20ms for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within 10s: %s", what)
}

// echo POSTs body through the gateway and returns the peer that answered.
func echo(t *testing.T, url, body string) (peer string) {
	t.Helper()
	resp, err := http.Post(url+"/echo", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || string(got) != body {
		t.Fatalf("POST /echo %q through the gateway = %d %q", body, resp.StatusCode, got)
	}
	return resp.Header.Get("X-Peer")
}

// TestGatewayKilledPeer: with one of two peer processes SIGKILLed, every
// request through the gateway still succeeds (the ones that cannot connect
// to the dead peer go to the other); the dead peer is taken out, and put
// back once a process listens at its address again.
func TestGatewayKilledPeer(t *testing.T) {
	ports, err := loopback.Ports("127.0.0.1", 2)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	procA := startTestPeer(t, a)
	startTestPeer(t, b)

	g := newGateway("svc", []string{a, b}, quietLogger())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.watch(ctx)
	front := httptest.NewServer(g)
	defer front.Close()
	eventually(t, "both peers healthy", func() bool { return g.backends[0].healthy.Load() && g.backends[1].healthy.Load() })

	seen := map[string]int{}
	for i := range 20 {
		seen[echo(t, front.URL, fmt.Sprint("before ", i))]++
	}
	if seen[a] == 0 || seen[b] == 0 {
		t.Fatalf("requests per peer = %v, want both peers used", seen)
	}

	// Killed, and exited: from now on a connect to a fails. The health check
	// has not noticed yet, so the next requests must be retried on b.
	if err := procA.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = procA.Wait()
	for i := range 20 {
		if p := echo(t, front.URL, fmt.Sprint("after ", i)); p != b {
			t.Fatalf("request answered by %q after %s died", p, a)
		}
	}
	eventually(t, "the dead peer taken out", func() bool { return !g.backends[0].healthy.Load() })

	startTestPeer(t, a)
	eventually(t, "the restarted peer back in and answering", func() bool {
		return echo(t, front.URL, "again") == a
	})
}

// TestGatewayRetriesOnlyFailedConnects: a request whose connection was
// accepted is not sent to another peer, even when the peer hangs up without
// answering (it may have acted on it); the client gets 502.
func TestGatewayRetriesOnlyFailedConnects(t *testing.T) {
	var good atomic.Int64
	okPeer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		good.Add(1)
	}))
	defer okPeer.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hangUp := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // the request arrived whole
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = c.Close()
		}
	})}
	go func() { _ = hangUp.Serve(ln) }()
	defer func() { _ = hangUp.Close() }()

	g := newGateway("svc", []string{ln.Addr().String(), strings.TrimPrefix(okPeer.URL, "http://")}, quietLogger())
	for _, b := range g.backends {
		b.healthy.Store(true)
	}
	front := httptest.NewServer(g)
	defer front.Close()

	codes := map[int]int{}
	for range 2 { // round-robin: one request to each peer
		resp, err := http.Post(front.URL+"/pay", "application/json", strings.NewReader(`{"amount":1}`))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusBadGateway] != 1 || codes[http.StatusOK] != 1 || good.Load() != 1 {
		t.Fatalf("status codes %v, requests at the good peer %d; want one 502 and one 200, the good peer reached once", codes, good.Load())
	}
}

// TestGatewayNoPeer answers 502 when no peer can be reached.
func TestGatewayNoPeer(t *testing.T) {
	ports, err := loopback.Ports("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway("svc", []string{fmt.Sprintf("127.0.0.1:%d", ports[0])}, quietLogger())
	front := httptest.NewServer(g)
	defer front.Close()
	resp, err := http.Get(front.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `"bad_gateway"`) {
		t.Fatalf("GET with no peer = %d %s, want 502 bad_gateway", resp.StatusCode, body)
	}
}

// TestGatewaysEnv: every service gets a gateway that serves, named for the
// -then program by CATGA_GATEWAY_<SERVICE> (upper case, '-' as '_').
func TestGatewaysEnv(t *testing.T) {
	gs, err := startGateways("127.0.0.1:0", []string{"order", "shipping-eu"}, map[string][]string{}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := gs.close(); err != nil {
			t.Error(err)
		}
	}()
	env := gs.env()
	if len(env) != 2 || !strings.HasPrefix(env[0], "CATGA_GATEWAY_ORDER=http://127.0.0.1:") ||
		!strings.HasPrefix(env[1], "CATGA_GATEWAY_SHIPPING_EU=http://127.0.0.1:") {
		t.Fatalf("env = %v", env)
	}
	for _, kv := range env {
		_, url, _ := strings.Cut(kv, "=")
		resp, err := http.Get(url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("GET %s/x with no peers = %d, want 502", url, resp.StatusCode)
		}
	}
}

// TestGatewayConsoleStream: the gateways find the console a service
// serves, carry its event stream as it comes, and an open stream does not
// hold their stop.
func TestGatewayConsoleStream(t *testing.T) {
	ports, err := loopback.Ports("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	startTestPeer(t, addr)
	gs, err := startGateways("127.0.0.1:0", []string{"order", "payment"}, map[string][]string{"order": {addr}}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	var consoles [][2]string
	eventually(t, "the console found", func() bool {
		consoles = gs.consoles(context.Background())
		return len(consoles) == 1
	})
	if consoles[0][0] != "order" || consoles[0][1] != gs.urls["order"]+"/console/" {
		t.Fatalf("consoles = %v", consoles)
	}
	req, _ := http.NewRequest(http.MethodGet, gs.urls["order"]+"/console/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	first := make([]byte, len("event: update"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "event: update" {
		t.Fatalf("stream starts %q, %v: not passed on as it comes", first, err)
	}
	start := time.Now()
	if err := gs.close(); err != nil {
		t.Fatalf("close with a stream open: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("close took %s with a stream open", took)
	}
}
