package topology_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// balancer spreads a client's requests over the peers of one service as a
// real load balancer does: it polls every peer's /readyz and sends only to
// peers that answered 200 last; a peer whose connection is refused is
// taken out at once and the request goes to the next peer (it cannot have
// reached the first). Any other failure (a reset after the request was
// sent, a timeout, a non-2xx answer) is the client's: it is counted, never
// retried, since the request may have reached the peer.
type balancer struct {
	c *client

	mu    sync.Mutex
	peers []*topology.Peer
	in    map[*topology.Peer]bool
	next  int

	rerouted atomic.Int64 // requests sent again elsewhere after a refused connection
	stop     chan struct{}
	done     sync.WaitGroup
}

// newBalancer starts polling the readiness of peers every interval, until
// close. A peer is in rotation from its first 200.
func newBalancer(c *client, peers []*topology.Peer, interval time.Duration) *balancer {
	b := &balancer{c: c, in: map[*topology.Peer]bool{}, stop: make(chan struct{})}
	for _, p := range peers {
		b.add(p)
	}
	probe := &http.Client{Timeout: interval}
	b.done.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			b.mu.Lock()
			peers := append([]*topology.Peer(nil), b.peers...)
			b.mu.Unlock()
			var wg sync.WaitGroup
			for _, p := range peers {
				wg.Go(func() {
					ready := false
					if resp, err := probe.Get(p.URL() + "/readyz"); err == nil {
						ready = resp.StatusCode == http.StatusOK
						_ = resp.Body.Close()
					}
					b.mu.Lock()
					b.in[p] = ready
					b.mu.Unlock()
				})
			}
			wg.Wait()
			select {
			case <-b.stop:
				return
			case <-t.C:
			}
		}
	})
	return b
}

// add puts p under the balancer's watch; it takes requests once its
// /readyz answers 200.
func (b *balancer) add(p *topology.Peer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.peers = append(b.peers, p)
}

func (b *balancer) close() {
	close(b.stop)
	b.done.Wait()
}

// pick returns the next peer in rotation, round-robin, or nil when none is.
func (b *balancer) pick(skip map[*topology.Peer]bool) *topology.Peer {
	b.mu.Lock()
	defer b.mu.Unlock()
	for range b.peers {
		b.next = (b.next + 1) % len(b.peers)
		if p := b.peers[b.next]; b.in[p] && !skip[p] {
			return p
		}
	}
	return nil
}

// errNoPeer: no peer of the service is in rotation.
var errNoPeer = errors.New("balancer: no peer ready")

// do sends the request to a peer in rotation (see balancer). It returns
// the peer that answered.
func (b *balancer) do(ctx context.Context, method, path string, header http.Header, body, out any) (*topology.Peer, error) {
	tried := map[*topology.Peer]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := b.pick(tried)
		if p == nil {
			if time.Now().After(deadline) {
				return nil, errNoPeer
			}
			// Every peer is out or refused: wait for the next probe round.
			time.Sleep(50 * time.Millisecond)
			clear(tried)
			continue
		}
		_, err := b.c.do(ctx, method, p.URL()+path, header, body, out)
		var op *net.OpError
		if err != nil && errors.As(err, &op) && op.Op == "dial" {
			b.mu.Lock()
			b.in[p] = false
			b.mu.Unlock()
			tried[p] = true
			b.rerouted.Add(1)
			continue
		}
		return p, err
	}
}
