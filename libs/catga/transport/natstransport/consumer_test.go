package natstransport_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/transport"
)

// durableRig is one consumer under test with a watch on its dead letters.
type durableRig struct {
	mu      sync.Mutex
	handled map[string]int // successful handlings by message id
	dead    atomic.Int64
}

func (r *durableRig) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handled[id]
}

func startDurableRig(t *testing.T, tr transport.Transport, cfg transport.ConsumerConfig, handle func(ctx context.Context, d transport.Delivery) error) *durableRig {
	t.Helper()
	r := &durableRig{handled: map[string]int{}}
	if _, err := tr.Consume(cfg, func(ctx context.Context, d transport.Delivery) error {
		if err := handle(ctx, d); err != nil {
			return err
		}
		r.mu.Lock()
		r.handled[d.Header.Get(transport.HeaderNatsMsgID)]++
		r.mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Consume(transport.ConsumerConfig{Name: cfg.Name + "_dlq", Subject: transport.DeadLetterSubject(cfg.Name)},
		func(context.Context, transport.Delivery) error { r.dead.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	return r
}

func publishN(t *testing.T, tr transport.Transport, subject, prefix string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		h := transport.Header{transport.HeaderNatsMsgID: {ids[i]}}
		if err := tr.PublishDurable(ctx, &transport.Msg{Subject: subject, Header: h, Data: []byte(ids[i])}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func (r *durableRig) checkOnce(t *testing.T, ids []string) {
	t.Helper()
	for _, id := range ids {
		if n := r.count(id); n != 1 {
			t.Errorf("event %s handled %d times, want 1", id, n)
		}
	}
	if n := r.dead.Load(); n != 0 {
		t.Errorf("%d events dead-lettered, want none", n)
	}
}

// TestEventsOutlastDependencyOutage: the handler's dependency is down for
// 10 seconds (every call fails with a retryable error), then recovers.
// With the default consumer settings every event in flight is retried
// until it succeeds, once; none is dead-lettered.
func TestEventsOutlastDependencyOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10s outage on an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	tr := connect(t, s.ClientURL())
	const outage = 10 * time.Second
	var once sync.Once
	var up time.Time
	var calls atomic.Int64
	r := startDurableRig(t, tr, transport.ConsumerConfig{Name: "outage", Subject: "catga.evt.test.outage"},
		func(context.Context, transport.Delivery) error {
			calls.Add(1)
			once.Do(func() { up = time.Now().Add(outage) })
			if time.Now().Before(up) {
				return errors.New("dependency down") // retryable
			}
			return nil
		})
	ids := publishN(t, tr, "catga.evt.test.outage", "outage", 10)
	waitFor(t, 60*time.Second, "every event handled or dead-lettered", func() bool {
		done := int(r.dead.Load())
		for _, id := range ids {
			done += min(r.count(id), 1)
		}
		return done >= len(ids)
	})
	time.Sleep(200 * time.Millisecond) // let a wrong redelivery show up
	r.checkOnce(t, ids)
	t.Logf("%d handler calls for %d events across a %s outage", calls.Load(), len(ids), outage)
}

// TestSlowHandlerBacklog: AckWait is 1s; the first event's handler takes
// 2.5s and the others 300ms each, handled one at a time. Nothing pulled
// ahead may sit past AckWait unhandled, and the long handler reports
// progress: every event is handled once, none redelivered or
// dead-lettered.
func TestSlowHandlerBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	tr := connect(t, s.ClientURL())
	var attempts sync.Map
	r := startDurableRig(t, tr, transport.ConsumerConfig{Name: "backlog", Subject: "catga.evt.test.backlog", AckWait: time.Second},
		func(_ context.Context, d transport.Delivery) error {
			id := d.Header.Get(transport.HeaderNatsMsgID)
			if d.Attempt > 1 {
				attempts.Store(id, d.Attempt)
			}
			if id == "backlog-0" {
				time.Sleep(2500 * time.Millisecond)
			} else {
				time.Sleep(300 * time.Millisecond)
			}
			return nil
		})
	ids := publishN(t, tr, "catga.evt.test.backlog", "backlog", 8)
	waitFor(t, 30*time.Second, "every event handled", func() bool {
		for _, id := range ids {
			if r.count(id) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(1500 * time.Millisecond) // past AckWait: a lost ack would redeliver now
	r.checkOnce(t, ids)
	attempts.Range(func(k, v any) bool {
		t.Errorf("event %v was delivered %v times", k, v)
		return true
	})
}
