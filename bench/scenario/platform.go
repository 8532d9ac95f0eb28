package scenario

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/catga-go/catga/libs/catga/natsembed"
)

// Platform is the services' peers as processes over an embedded
// nats-server (JetStream: saga state in NATS KV) and a SQLite file per
// service: the embedded stack `make run` starts.
type Platform struct {
	NATS  *natsembed.Server
	Peers map[string][]*Proc // by service

	bins map[string]string
	dir  string
	tmp  string // removed by Close
	env  []string
	mu   sync.Mutex
	n    int
}

// StartPlatform starts NATS and peers[svc] peers of each service in bins,
// their data in dir (empty: a new temporary directory, removed by Close),
// env added to each peer's.
func StartPlatform(bins map[string]string, peers map[string]int, dir string, env ...string) (*Platform, error) {
	tmp := ""
	if dir == "" {
		d, err := os.MkdirTemp("", "catga-bench-data-*")
		if err != nil {
			return nil, err
		}
		dir, tmp = d, d
	}
	srv, err := natsembed.Start(natsembed.Config{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	p := &Platform{NATS: srv, Peers: map[string][]*Proc{}, bins: bins, dir: dir, tmp: tmp, env: env}
	for svc, n := range peers {
		for range n {
			if _, err := p.StartPeer(svc); err != nil {
				_ = p.Close()
				return nil, err
			}
		}
	}
	return p, nil
}

// StartPeer starts one more peer of svc and waits until it is ready.
func (p *Platform) StartPeer(svc string) (*Proc, error) {
	bin, ok := p.bins[svc]
	if !ok {
		return nil, fmt.Errorf("catga: bench: no binary for service %q", svc)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.n++
	name := fmt.Sprintf("%s-%d", svc, p.n)
	p.mu.Unlock()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := append([]string{
		"CATGA_NATS_URL=" + p.NATS.ClientURL(),
		"CATGA_HTTP_ADDR=" + addr,
		"CATGA_SQLITE_PATH=" + filepath.Join(p.dir, svc+".db"),
		"CATGA_SHUTDOWN_TIMEOUT=10s",
		"CATGA_LOG_LEVEL=warn", // a log line per order would cost the peers what the benchmark measures
	}, p.env...)
	proc, err := startProc(name, bin, env)
	if err != nil {
		return nil, err
	}
	proc.URL = "http://" + addr
	if err := proc.awaitReady(30 * time.Second); err != nil {
		proc.Kill()
		return nil, err
	}
	p.mu.Lock()
	p.Peers[svc] = append(p.Peers[svc], proc)
	p.mu.Unlock()
	return proc, nil
}

// Close stops every peer (SIGTERM, bounded), then NATS.
func (p *Platform) Close() error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, ps := range p.Peers {
		for _, pr := range ps {
			wg.Go(func() {
				if err := pr.Stop(15 * time.Second); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	p.NATS.Shutdown()
	if p.tmp != "" {
		errs = append(errs, os.RemoveAll(p.tmp))
	}
	return errors.Join(errs...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
