// Command catga-dev runs the whole platform on one machine with nothing
// installed: an embedded nats-server (with JetStream) and several peers of
// every service, as separate processes, the way they run in production.
// It is what `make run` starts.
//
//	catga-dev -bin ./bin -peers 2                               # run until Ctrl-C
//	catga-dev -bin ./bin -peers 2 -smoke                        # start, check every peer is ready, stop
//	catga-dev -bin ./bin -gateway 127.0.0.1:8080 -then bin/demo # run a program against the platform, then keep running
//
// The services are the directories under services/ that hold a main.go (in
// the repository around the working directory), so a service generated
// by `make new-service` and built into -bin runs too; -services names them
// instead. Each peer
// gets an HTTP port of its own on 127.0.0.1, and the peers of a service
// share a SQLite file in a data directory that is fresh for every run
// unless -data names one. Their JSON log lines are shown as text.
//
// With -gateway, every service gets one HTTP address for clients, balanced
// over its peers (see gateway): the services in list order take the given
// port and the ones after it (port 0: free ones). With -then, once every
// peer is ready the program runs with CATGA_GATEWAY_<SERVICE> (e.g.
// CATGA_GATEWAY_ORDER=http://127.0.0.1:8080) in its environment; the
// platform keeps running after it ends, until Ctrl-C (or stops at once
// with -smoke).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"golang.org/x/sync/errgroup"

	"github.com/catga-go/catga/libs/catga/internal/loopback"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/peer"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "catga-dev: %v\n", err)
		os.Exit(1)
	}
}

type config struct {
	binDir   string
	services []string
	peers    int
	natsPort int
	dataDir  string
	smoke    bool
	wait     time.Duration
	gateway  string
	then     string
}

func parseFlags() (config, error) {
	var c config
	var services string
	flag.StringVar(&c.binDir, "bin", "bin", "directory holding the service binaries")
	flag.StringVar(&services, "services", "", "comma-separated services to start (default: every services/<name>/main.go of the repository)")
	flag.IntVar(&c.peers, "peers", 2, "peers per service")
	flag.IntVar(&c.natsPort, "nats-port", 4222, "client port of the embedded nats-server (0 picks a free one)")
	flag.StringVar(&c.dataDir, "data", "", "directory for the services' SQLite files (default: a fresh temporary one, removed at exit)")
	flag.BoolVar(&c.smoke, "smoke", false, "start everything, check every peer answers discovery, then stop")
	flag.DurationVar(&c.wait, "wait", 20*time.Second, "how long to wait for every peer to show up")
	flag.StringVar(&c.gateway, "gateway", "", "host:port of the first service's gateway; the next services take the next ports (port 0: free ones; empty: no gateways)")
	flag.StringVar(&c.then, "then", "", "program to run once every peer is ready, with CATGA_GATEWAY_<SERVICE> set (needs -gateway)")
	flag.Parse()

	var errs []error
	if services != "" {
		c.services = strings.Split(services, ",")
	} else {
		var err error
		if c.services, err = discoverServices(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.then != "" && c.gateway == "" {
		errs = append(errs, errors.New("-then needs -gateway: the program reaches the services through their gateways"))
	}
	if c.gateway != "" {
		if _, _, err := net.SplitHostPort(c.gateway); err != nil {
			errs = append(errs, fmt.Errorf("-gateway %q: want host:port", c.gateway))
		}
	}
	if c.peers < 1 {
		errs = append(errs, fmt.Errorf("-peers must be at least 1, got %d", c.peers))
	}
	for _, s := range c.services {
		if _, err := os.Stat(filepath.Join(c.binDir, s)); err != nil {
			errs = append(errs, fmt.Errorf("service binary %s: %w (run `make build`)", filepath.Join(c.binDir, s), err))
		}
	}
	return c, errors.Join(errs...)
}

func run() error {
	cfg, err := parseFlags()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := natsembed.Start(natsembed.Config{Port: cfg.natsPort, Name: "catga-dev"})
	if err != nil {
		return fmt.Errorf("embedded nats-server on port %d: %w", cfg.natsPort, err)
	}
	defer srv.Shutdown()
	fmt.Printf("nats-server (embedded, JetStream) listening on %s\n", srv.ClientURL())

	if cfg.dataDir == "" {
		if cfg.dataDir, err = os.MkdirTemp("", "catga-dev-*"); err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(cfg.dataDir) }()
	}
	ports, err := loopback.Ports("127.0.0.1", len(cfg.services)*cfg.peers)
	if err != nil {
		return err
	}

	var out sync.Mutex
	peersCtx, stopPeers := context.WithCancel(context.Background())
	defer stopPeers()
	var g errgroup.Group
	addrs := map[string][]string{} // service → its peers' HTTP addresses
	for _, svc := range cfg.services {
		for i := 1; i <= cfg.peers; i++ {
			name := fmt.Sprintf("%s-%d", svc, i)
			addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
			ports = ports[1:]
			addrs[svc] = append(addrs[svc], addr)
			fmt.Printf("%s: http://%s\n", name, addr)
			cmd := exec.Command(filepath.Join(cfg.binDir, svc))
			cmd.SysProcAttr = sysProcAttr()
			cmd.Env = append(os.Environ(),
				peer.EnvNATSURL+"="+srv.ClientURL(),
				peer.EnvHTTPAddr+"="+addr,
				peer.EnvSQLitePath+"="+filepath.Join(cfg.dataDir, svc+".db"),
				peer.EnvShutdownTimeout+"=10s")
			stdout, err := cmd.StdoutPipe()
			if err == nil {
				cmd.Stderr = cmd.Stdout
				err = cmd.Start()
			}
			if err != nil {
				stopPeers()
				_ = g.Wait()
				return fmt.Errorf("start %s: %w", name, err)
			}
			// The peer's last lines are read before Wait closes the pipe.
			drained := make(chan struct{})
			g.Go(func() error { defer close(drained); prefixLines(&out, name, stdout); return nil })
			g.Go(func() error { return supervise(peersCtx, name, cmd, drained) })
		}
	}

	var gws *gateways
	if cfg.gateway != "" {
		if gws, err = startGateways(cfg.gateway, cfg.services, addrs, prefixLogger(&out, "gateway")); err != nil {
			stopPeers()
			return errors.Join(err, g.Wait())
		}
	}

	want := len(cfg.services) * cfg.peers
	found, err := awaitPeers(ctx, srv.ClientURL(), want, cfg.wait)
	printPeers(found)
	if err == nil {
		err = awaitReady(ctx, addrs, cfg.wait)
	}
	if err == nil && gws != nil {
		gws.print(os.Stdout)
		gws.printConsoles(ctx, os.Stdout)
	}
	var thenErr error
	if err == nil && cfg.then != "" {
		thenErr = runThen(ctx, cfg.then, gws.env())
		if thenErr != nil && !cfg.smoke && ctx.Err() == nil {
			fmt.Printf("%v; the platform keeps running\n", thenErr)
		}
	}
	switch {
	case err != nil:
	case cfg.smoke && thenErr == nil:
		fmt.Printf("smoke: all %d peers ready; stopping\n", want)
	case !cfg.smoke && ctx.Err() == nil:
		fmt.Println("platform running; Ctrl-C stops it")
		<-ctx.Done()
		fmt.Println("stopping: the gateways, then every peer (SIGTERM: each drains and hands its sagas on)")
	}
	err = errors.Join(err, thenErr)
	if gws != nil {
		err = errors.Join(err, gws.close())
	}
	stopPeers()
	if werr := g.Wait(); werr != nil {
		err = errors.Join(err, werr)
	}
	return err
}

// runThen runs program with env added to catga-dev's environment, its
// output on catga-dev's. Ctrl-C interrupts it.
func runThen(ctx context.Context, program string, env []string) error {
	cmd := exec.CommandContext(ctx, program)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", program, err)
	}
	return nil
}

// awaitReady polls every peer's /readyz until each answered 200, or wait
// runs out.
func awaitReady(ctx context.Context, addrs map[string][]string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for svc, as := range addrs {
		for _, a := range as {
			for {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+peer.PathReady, nil)
				if err != nil {
					return err
				}
				if resp, err := client.Do(req); err == nil {
					_ = resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("%s peer %s not ready within %s", svc, a, wait)
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
	return nil
}

// supervise waits for a peer process; when ctx ends it asks the peer to stop
// (SIGTERM, so it drains) and kills it only if it does not exit in time.
// Its output must have been read to the end (drained closed) before Wait,
// which closes the output pipe.
func supervise(ctx context.Context, name string, cmd *exec.Cmd, drained <-chan struct{}) error {
	exited := make(chan error, 1)
	go func() {
		<-drained
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		return fmt.Errorf("%s exited unexpectedly: %w", name, err)
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("%s: unclean shutdown: %w", name, err)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		return errors.Join(fmt.Errorf("%s did not stop within 15s of SIGTERM; killed", name), <-exited)
	}
}

func prefixLines(mu *sync.Mutex, name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := humanize(sc.Text())
		mu.Lock()
		fmt.Printf("%-15s | %s\n", name, line)
		mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r) // past an overlong line: to the end, so the peer never blocks writing
}

// prefixLogger logs text lines (without the time) prefixed like a peer's.
func prefixLogger(mu *sync.Mutex, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(prefixWriter{mu, name}, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// prefixWriter prints each write (one log line) after name.
type prefixWriter struct {
	mu   *sync.Mutex
	name string
}

func (w prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Printf("%-15s | %s", w.name, p)
	return len(p), nil
}

// awaitPeers pings $SRV.PING until want distinct peers answered or wait
// runs out.
func awaitPeers(ctx context.Context, url string, want int, wait time.Duration) ([]micro.Ping, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	deadline := time.Now().Add(wait)
	var found []micro.Ping
	for time.Now().Before(deadline) && ctx.Err() == nil {
		found, err = ping(nc, 300*time.Millisecond)
		if err != nil {
			return nil, err
		}
		if len(found) >= want {
			return found, nil
		}
	}
	return found, fmt.Errorf("%d of %d peers answered discovery within %s", len(found), want, wait)
}

// ping collects every answer to one $SRV.PING for window.
func ping(nc *nats.Conn, window time.Duration) ([]micro.Ping, error) {
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$SRV.PING", inbox, nil); err != nil {
		return nil, err
	}
	seen := map[string]micro.Ping{}
	end := time.Now().Add(window)
	for {
		msg, err := sub.NextMsg(time.Until(end))
		if err != nil {
			break
		}
		var p micro.Ping
		if json.Unmarshal(msg.Data, &p) == nil && p.ID != "" {
			seen[p.ID] = p
		}
	}
	out := make([]micro.Ping, 0, len(seen))
	for _, p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].ID < out[j].Name+out[j].ID })
	return out, nil
}

func printPeers(peers []micro.Ping) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPEER ID\tVERSION")
	for _, p := range peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.ID, p.Version)
	}
	_ = tw.Flush()
}
