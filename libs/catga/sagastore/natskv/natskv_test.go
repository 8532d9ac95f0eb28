package natskv_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/catga-go/catga/libs/catga/internal/natstest"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
	"github.com/catga-go/catga/libs/catga/sagastore/storetest"
)

func TestConformance(t *testing.T) {
	srv, _, _ := natstest.JetStream(t)
	var n atomic.Int64
	var mu sync.Mutex
	conns := map[sagastore.Store]*nats.Conn{} // each store has a connection of its own, so its traffic can be counted
	open := func(t *testing.T, cfg natskv.Config) sagastore.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nc, js := natstest.Connect(t, srv)
		cfg.Bucket = fmt.Sprintf("sagas_%d", n.Add(1))
		s, err := natskv.New(ctx, js, cfg)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		conns[s] = nc
		mu.Unlock()
		return s
	}
	storetest.Run(t, storetest.Harness{
		Features: storetest.Features{Parallel: true, Corrupt: func(t *testing.T, s sagastore.Store, id string) {
			if err := s.(*natskv.Store).PutRaw(context.Background(), id, []byte("{not json")); err != nil {
				t.Fatal(err)
			}
		},
			Work: func(s sagastore.Store) int64 {
				mu.Lock()
				defer mu.Unlock()
				st := conns[s].Stats()
				return int64(st.InMsgs + st.OutMsgs) // requests and replies: every record read is one of each
			},
			NewWithRetention: func(t *testing.T, d time.Duration) sagastore.Store {
				return open(t, natskv.Config{Retention: d})
			},
		},
		New: func(t *testing.T) sagastore.Store { return open(t, natskv.Config{}) },
	})
}

func TestKeyEncoding(t *testing.T) {
	cases := []struct{ id, key string }{
		{"3f2a-11", "3f2a-11"},
		{"order/1", "x." + fmt.Sprintf("%x", "order/1")},
		{"a.b", "x." + fmt.Sprintf("%x", "a.b")},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			if got := natskv.Key(c.id); got != c.key {
				t.Fatalf("Key(%q) = %q, want %q", c.id, got, c.key)
			}
		})
	}
}

// TestDueScanDoesNotGrow: removed due entries leave no lasting markers, so
// the due bucket (and every Due scan, which reads all of it) does not grow
// with the number of sagas ever run.
func TestDueScanDoesNotGrow(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const bucket = "sagas_growth"
	s, err := natskv.New(ctx, js, natskv.Config{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	var done []sagastore.Entry
	for i := range 50 {
		rec := sagastore.Record{ID: fmt.Sprint("g-", i), Name: "g", State: sagastore.StateRunning, Epoch: 1, LeaseUntil: time.Now()}
		if _, err := s.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		done = append(done, sagastore.Entry{ID: rec.ID, Epoch: 1})
	}
	if err := s.Unindex(ctx, done...); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "KV_"+bucket+"_due")
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("due bucket still holds %d messages (purge markers) long after every entry was removed", info.State.Msgs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
