package eventstoretest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

type feedStore interface {
	eventstore.Feed
	eventstore.Checkpoints
}

// testFeedTail: a subscription tails the feed while writers append
// concurrently; it sees every event exactly once, each stream in version
// order. Restarted under the same name it resumes from its durable
// checkpoint.
func testFeedTail(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	fs, ok := s.(feedStore)
	if !ok {
		t.Fatalf("%T does not implement eventstore.Feed and eventstore.Checkpoints", s)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	last := map[string]int64{}
	var order []string
	handle := func(_ context.Context, r eventstore.Record) error {
		mu.Lock()
		defer mu.Unlock()
		seen[r.ID]++
		if r.Version != last[r.StreamID]+1 {
			order = append(order, fmt.Sprintf("%s@%d after %d", r.StreamID, r.Version, last[r.StreamID]))
		}
		last[r.StreamID] = r.Version
		return nil
	}
	run := func() (stop func()) {
		sub, err := eventstore.NewSubscription(fs, fs, "projection", handle, eventstore.WithBatch(7), eventstore.WithPollInterval(5*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := sub.Run(ctx); err != nil {
				t.Errorf("subscription: %v", err)
			}
		})
		return func() { cancel(); wg.Wait() }
	}
	appendAll := func(round, writers, perWriter int) []string {
		var wg sync.WaitGroup
		ids := make([][]string, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					res, err := s.Append(ctxT(t), fmt.Sprintf("feed-%d-%d", round, w%3), eventstore.Any, []eventstore.Event{{Data: Deposited{Amount: i}}})
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
					ids[w] = append(ids[w], res.Records[0].ID)
				}
			})
		}
		wg.Wait()
		var all []string
		for _, x := range ids {
			all = append(all, x...)
		}
		return all
	}
	waitSeen := func(ids []string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			n := 0
			for _, id := range ids {
				if seen[id] > 0 {
					n++
				}
			}
			mu.Unlock()
			if n == len(ids) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("subscription saw %d of %d events", n, len(ids))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	stop := run()
	first := appendAll(1, 6, 15)
	waitSeen(first)
	stop()
	second := appendAll(2, 3, 5)
	stop = run()
	waitSeen(second)
	stop()

	mu.Lock()
	defer mu.Unlock()
	for _, id := range append(first, second...) {
		if seen[id] != 1 {
			t.Errorf("event %s delivered %d times, want once", id, seen[id])
		}
	}
	if len(order) > 0 {
		t.Errorf("streams out of order: %v", order)
	}
	cp, err := fs.LoadCheckpoint(ctxT(t), "projection")
	if err != nil || cp.Position == 0 {
		t.Fatalf("checkpoint = %v, %v", cp, err)
	}
	if none, err := fs.LoadCheckpoint(ctxT(t), "never-ran"); err != nil || none != (eventstore.Checkpoint{}) {
		t.Fatalf("checkpoint of a new subscription = %v, %v; want zero", none, err)
	}
}
