package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/catga-go/catga/libs/catga/httpapi"
	"github.com/catga-go/catga/libs/catga/peer"
)

// How the gateway watches its peers.
const (
	healthEvery   = 500 * time.Millisecond
	healthTimeout = 400 * time.Millisecond
	dialTimeout   = 2 * time.Second
)

// backend is one peer behind a gateway.
type backend struct {
	addr    string // host:port of the peer's HTTP server
	healthy atomic.Bool
	seen    atomic.Bool // healthy at least once: from then on, changes are logged
}

// gateway is one service's HTTP address for clients: a reverse proxy that
// spreads requests round-robin over the service's peers. A peer whose
// /healthz does not answer 200 is taken out until it does again; a request
// that cannot connect to its peer is retried on the next one. Only a failed
// connect is retried: a request that may have reached a peer (its
// connection opened) is never sent twice, since it may not be idempotent.
type gateway struct {
	service  string
	backends []*backend
	next     atomic.Uint64
	proxy    *httputil.ReverseProxy
	tr       *http.Transport
	log      *slog.Logger
	// streams ends the event streams in flight (a saga console's live
	// updates), which would otherwise hold the gateway's graceful stop.
	streams context.Context
}

// errDial marks a failed connect to a peer: the request was not sent.
type errDial struct{ err error }

func (e *errDial) Error() string { return e.err.Error() }
func (e *errDial) Unwrap() error { return e.err }

func newGateway(service string, peerAddrs []string, log *slog.Logger) *gateway {
	g := &gateway{service: service, log: log, streams: context.Background()}
	for _, a := range peerAddrs {
		g.backends = append(g.backends, &backend{addr: a})
	}
	d := &net.Dialer{Timeout: dialTimeout}
	g.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &errDial{err}
			}
			return c, nil
		},
		// A fresh connection per request: a dead peer then shows as a
		// failed connect, which is safe to retry. A pooled connection to it
		// would fail after the request was written, which is not.
		DisableKeepAlives: true,
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The host is picked per attempt by roundTrip.
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", service
			pr.SetXForwarded()
		},
		Transport: roundTripFunc(g.roundTrip),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.log.Warn("gateway: request failed", "service", service, "method", r.Method, "path", r.URL.Path, "err", err)
			httpapi.WriteError(w, &httpapi.Error{Status: http.StatusBadGateway, Code: "bad_gateway", Message: fmt.Sprintf("%s: %v", service, err)})
		},
	}
	return g
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(g.streams, cancel)()
		r = r.WithContext(ctx)
	}
	g.proxy.ServeHTTP(w, r)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// roundTrip sends req to the healthy peers in turn, starting at the next in
// the round, moving on only when a connect fails. When no peer is healthy
// it tries them all, in case the health checks lag.
func (g *gateway) roundTrip(req *http.Request) (*http.Response, error) {
	order := g.order()
	body := req.Body
	defer func() {
		if body != nil {
			_ = body.Close()
		}
	}()
	var errs []error
	for _, b := range order {
		out := req.Clone(req.Context())
		out.URL.Host = b.addr
		if body != nil {
			// A failed connect closes the request's body; the next attempt
			// still needs it (nothing was read: the connect comes first).
			out.Body = noClose{body}
		}
		resp, err := g.tr.RoundTrip(out)
		var de *errDial
		if err == nil || !errors.As(err, &de) {
			return resp, err
		}
		if b.healthy.Swap(false) {
			g.log.Info("gateway: peer taken out", "service", g.service, "peer", b.addr, "err", err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", b.addr, err))
	}
	if len(errs) == 0 {
		return nil, errors.New("no peers")
	}
	return nil, fmt.Errorf("no peer could be reached: %w", errors.Join(errs...))
}

// order is the round of peers for one request: the healthy ones from the
// next in turn, or every one when none is healthy.
func (g *gateway) order() []*backend {
	n := len(g.backends)
	if n == 0 {
		return nil
	}
	start := int(g.next.Add(1) % uint64(n))
	var healthy, all []*backend
	for i := range n {
		b := g.backends[(start+i)%n]
		all = append(all, b)
		if b.healthy.Load() {
			healthy = append(healthy, b)
		}
	}
	if len(healthy) > 0 {
		return healthy
	}
	return all
}

// watch checks every peer's /healthz every healthEvery until ctx ends.
func (g *gateway) watch(ctx context.Context) {
	client := &http.Client{Timeout: healthTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		for _, b := range g.backends {
			ok := g.check(ctx, client, b.addr)
			was := b.healthy.Swap(ok)
			switch {
			case ok && !b.seen.Swap(true): // up for the first time
			case was == ok || ctx.Err() != nil:
			case ok:
				g.log.Info("gateway: peer back in", "service", g.service, "peer", b.addr)
			default:
				g.log.Info("gateway: peer taken out", "service", g.service, "peer", b.addr, "err", "/healthz did not answer 200")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *gateway) check(ctx context.Context, client *http.Client, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+peer.PathHealth, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// noClose keeps a request body open across attempts.
type noClose struct{ io.Reader }

func (noClose) Close() error { return nil }

// gateways are the running gateways of every service, in list order.
type gateways struct {
	services []string
	urls     map[string]string // service → http://host:port
	peers    map[string][]string
	servers  []*http.Server
	stop     context.CancelFunc
	// endStreams ends the event streams through the gateways, first thing
	// on close.
	endStreams context.CancelFunc
	done       sync.WaitGroup
}

// startGateways listens for every service, the first on first and the
// next ones on the ports after it (or each on a free port when first's
// port is 0), and serves them.
func startGateways(first string, services []string, peers map[string][]string, log *slog.Logger) (*gateways, error) {
	host, p, err := net.SplitHostPort(first)
	if err != nil {
		return nil, fmt.Errorf("-gateway %q: %w", first, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("-gateway %q: port: %w", first, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	streams, endStreams := context.WithCancel(context.Background())
	gs := &gateways{services: services, urls: map[string]string{}, peers: peers, stop: cancel, endStreams: endStreams}
	for i, svc := range services {
		at := 0
		if port != 0 {
			at = port + i
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(at)))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("gateway of %s: %w (choose another address with -gateway)", svc, err), gs.close())
		}
		g := newGateway(svc, peers[svc], log)
		g.streams = streams
		srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
		gs.servers = append(gs.servers, srv)
		gs.urls[svc] = "http://" + ln.Addr().String()
		gs.done.Go(func() { _ = srv.Serve(ln) })
		gs.done.Go(func() { g.watch(ctx) })
	}
	return gs, nil
}

// env names every gateway for a program: CATGA_GATEWAY_<SERVICE>=<url>.
func (gs *gateways) env() []string {
	var out []string
	for _, svc := range gs.services {
		out = append(out, EnvGatewayPrefix+strings.ToUpper(strings.ReplaceAll(svc, "-", "_"))+"="+gs.urls[svc])
	}
	return out
}

// EnvGatewayPrefix starts the variables naming the gateways for -then.
const EnvGatewayPrefix = "CATGA_GATEWAY_"

func (gs *gateways) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tGATEWAY\tBALANCED OVER")
	for _, svc := range gs.services {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", svc, gs.urls[svc], strings.Join(gs.peers[svc], " "))
	}
	_ = tw.Flush()
}

// consoles returns the saga consoles the services serve through their
// gateways (a peer whose service runs sagas serves one at
// peer.PathConsole, unless CATGA_CONSOLE=off), as service → URL in list
// order.
func (gs *gateways) consoles(ctx context.Context) [][2]string {
	client := &http.Client{Timeout: 2 * time.Second}
	var out [][2]string
	for _, svc := range gs.services {
		u := gs.urls[svc] + peer.PathConsole
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			out = append(out, [2]string{svc, u})
		}
	}
	return out
}

// printConsoles names the saga consoles, and what they are.
func (gs *gateways) printConsoles(ctx context.Context, w io.Writer) {
	for _, c := range gs.consoles(ctx) {
		fmt.Fprintf(w, "saga console of %s: %s (an operator surface: it can retry and compensate sagas; %s=off on the peers switches it off)\n",
			c[0], c[1], peer.EnvConsole)
	}
}

// close stops the gateways, finishing the requests in flight.
func (gs *gateways) close() error {
	gs.endStreams()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range gs.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	gs.stop()
	gs.done.Wait()
	return errors.Join(errs...)
}
