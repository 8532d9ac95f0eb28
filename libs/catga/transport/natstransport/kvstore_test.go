package natstransport_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
	"github.com/catga-go/catga/libs/catga/transport/idempotency/idempotencytest"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

func TestKVStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	var n atomic.Int64
	idempotencytest.Run(t, idempotencytest.Capabilities{Shared: true}, func(t *testing.T) func() idempotency.Store {
		bucket := fmt.Sprintf("IDEM_%d", n.Add(1)) // a fresh bucket per case
		return func() idempotency.Store {
			js, err := jetstream.New(connect(t, s.ClientURL()).Conn())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := natstransport.NewKVStore(ctx, js, natstransport.KVStoreConfig{Bucket: bucket, Storage: jetstream.MemoryStorage})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	})
}

// TestKVStoreBoundedByCount: a full bucket drops its oldest keys instead of
// refusing new claims.
func TestKVStoreBoundedByCount(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	js, err := jetstream.New(connect(t, s.ClientURL()).Conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := natstransport.NewKVStore(ctx, js, natstransport.KVStoreConfig{Bucket: "BOUNDED", MaxKeys: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		key := fmt.Sprint("k", i)
		if claimed, _, err := st.Claim(ctx, key, time.Minute); err != nil || !claimed {
			t.Fatalf("Claim %s = %v, %v: a full bucket must make room", key, claimed, err)
		}
		if err := st.Complete(ctx, key, []byte("r"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	info, err := js.Stream(ctx, "KV_BOUNDED")
	if err != nil {
		t.Fatal(err)
	}
	if msgs := info.CachedInfo().State.Msgs; msgs > 10 {
		t.Errorf("bucket holds %d messages, bound 10", msgs)
	}
}

// TestKVHolderKeepsClaimPastLease: a handler ignores its ctx and runs 3
// leases while the same message id is delivered to a second peer. The
// first peer renews its claim meanwhile, so the second never runs the
// handler: the effect happens once and every caller gets the same reply.
func TestKVHolderKeepsClaimPastLease(t *testing.T) {
	const lease = time.Second
	c := startCluster(t)
	id := fmt.Sprintf("renew-%d", time.Now().UnixNano())
	started := make(chan int, 2)
	peers := []*deliveryCounter{{id: id}, {id: id}}
	for i, name := range []string{"r1", "r2"} {
		tr := c.peerOn(t, i, name)
		store, err := tr.IdempotencyStore() // the default: a JetStream KV bucket
		if err != nil {
			t.Fatal(err)
		}
		peers[i].Transport = tr
		m := mediator.New()
		_ = mediator.Handle(m, func(ctx context.Context, req Charge) (Charged, error) {
			select {
			case started <- i:
			default: // a second run: checkOnce reports it
			}
			time.Sleep(3 * lease) // ignores ctx, which the lease ends
			md, _ := catga.MetadataFrom(ctx)
			c.led.apply(md.MessageID, name)
			return Charged{N: req.N, Peer: name}, nil
		})
		if _, err := transport.Serve(peers[i], m, chargeRoute, transport.WithIdempotency(store),
			transport.WithLease(lease), transport.WithConcurrency(4)); err != nil {
			t.Fatalf("Serve: %v", err)
		}
		if err := tr.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
	}
	_, m := c.caller(t, 2, transport.WithAttemptTimeout(6*time.Second), transport.WithRetry(40, 50*time.Millisecond))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		replies []Charged
		errs    []error
	)
	send := func() {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := mediator.Send[Charged](catga.WithMetadata(ctx, catga.Metadata{MessageID: id}), m, Charge{N: 7})
			mu.Lock()
			replies, errs = append(replies, resp), append(errs, err)
			mu.Unlock()
		})
	}
	send()
	var first int
	select {
	case first = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never started")
	}
	// Deliver duplicates until one reaches the other peer (the queue
	// group picks a member at random), well inside the first's lease.
	other := peers[1-first]
	for n := 0; other.delivered.Load() == 0; n++ {
		if n == 20 {
			t.Fatal("no duplicate reached the second peer")
		}
		send()
		waitUntil(200*time.Millisecond, func() bool { return other.delivered.Load() > 0 })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		} else if replies[i] != replies[0] {
			t.Errorf("caller %d got %+v, caller 0 %+v", i, replies[i], replies[0])
		}
	}
	c.led.checkOnce(t, []string{id})
	t.Logf("%d callers; deliveries: r1 %d, r2 %d", len(errs), peers[0].delivered.Load(), peers[1].delivered.Load())
}

// deliveryCounter counts the deliveries of message id to a peer.
type deliveryCounter struct {
	transport.Transport
	id        string
	delivered atomic.Int64
}

func (d *deliveryCounter) Serve(subject, queue string, h transport.RequestHandler, cfg transport.ServeConfig) (transport.Subscription, error) {
	return d.Transport.Serve(subject, queue, func(ctx context.Context, msg *transport.Msg) *transport.Msg {
		if md, _, err := transport.ReadMetadata(msg.Header); err == nil && md.MessageID == d.id {
			d.delivered.Add(1)
		}
		return h(ctx, msg)
	}, cfg)
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) {
	for end := time.Now().Add(timeout); !cond() && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
}
