package natstransport_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// Record is what a Charge handler sends on to the ledger service.
type Record struct {
	ChargeID string `json:"charge_id"`
}

type Recorded struct{}

var recordRoute = transport.NewRoute[Record, Recorded]("ledger.record")

// TestRollingRestartUnderLoad: two payment peers are replaced one after
// the other (graceful Close, then a new peer) twice over, under steady
// load. Each Charge handler sends a Record to a ledger service while it
// runs, so shutdown must keep the peer's replies flowing until its
// handlers are done. No request fails and every charge is recorded once.
func TestRollingRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	url := s.ClientURL()

	var mu sync.Mutex
	recorded := map[string]int{}
	ledger := connect(t, url)
	lm := mediator.New()
	_ = mediator.Handle(lm, func(_ context.Context, r Record) (Recorded, error) {
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		recorded[r.ChargeID]++
		mu.Unlock()
		return Recorded{}, nil
	})
	if _, err := transport.Serve(ledger, lm, recordRoute, transport.WithConcurrency(8)); err != nil {
		t.Fatal(err)
	}

	var handling atomic.Int64 // Charge handlers running, on any peer
	startPayment := func(name string) *natstransport.Transport {
		tr, err := natstransport.Connect(natstransport.Config{URLs: []string{url}, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		m := mediator.New()
		if err := transport.Register(m, tr, recordRoute); err != nil {
			t.Fatal(err)
		}
		_ = mediator.Handle(m, func(ctx context.Context, c Charge) (Charged, error) {
			handling.Add(1)
			defer handling.Add(-1)
			time.Sleep(20 * time.Millisecond)
			md, _ := catga.MetadataFrom(ctx)
			if _, err := mediator.Send[Recorded](ctx, m, Record{ChargeID: md.MessageID}); err != nil {
				return Charged{}, err
			}
			return Charged{N: c.N, Peer: name}, nil
		})
		if _, err := transport.Serve(tr, m, chargeRoute, transport.WithConcurrency(4)); err != nil {
			t.Fatal(err)
		}
		if err := tr.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	peers := []*natstransport.Transport{startPayment("p0"), startPayment("p1")}

	caller := connect(t, url)
	cm := mediator.New()
	if err := transport.Register(cm, caller, chargeRoute, transport.WithRetry(20, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// Steady load until the restarts are over.
	stop := make(chan struct{})
	var (
		wg     sync.WaitGroup
		lmu    sync.Mutex
		ids    []string
		failed []error
		seq    atomic.Int64
	)
	for range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(seq.Add(1))
				id := fmt.Sprintf("rolling-%d", i)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				resp, err := mediator.Send[Charged](catga.WithMetadata(ctx, catga.Metadata{MessageID: id}), cm, Charge{N: i})
				cancel()
				if err == nil && resp.N != i {
					err = fmt.Errorf("reply carries %d", resp.N)
				}
				lmu.Lock()
				ids = append(ids, id)
				if err != nil {
					failed = append(failed, fmt.Errorf("%s: %w", id, err))
				}
				lmu.Unlock()
			}
		})
	}
	restarts := 0
	for round := range 2 {
		for i := range peers {
			waitFor(t, 10*time.Second, "a handler in flight", func() bool { return handling.Load() > 0 })
			if err := peers[i].Close(); err != nil {
				t.Errorf("Close %d: %v", i, err)
			}
			peers[i] = startPayment(fmt.Sprintf("p%d-%d", i, round+1))
			restarts++
			time.Sleep(100 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()

	lmu.Lock()
	defer lmu.Unlock()
	for i, err := range failed {
		if i < 5 {
			t.Errorf("failed: %v", err)
		}
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d requests failed across %d restarts, want 0", len(failed), len(ids), restarts)
	}
	mu.Lock()
	defer mu.Unlock()
	bad := 0
	for _, id := range ids {
		if recorded[id] != 1 {
			bad++
			if bad <= 5 {
				t.Errorf("charge %s recorded %d times, want 1", id, recorded[id])
			}
		}
	}
	t.Logf("%d requests across %d rolling restarts", len(ids), restarts)
}
