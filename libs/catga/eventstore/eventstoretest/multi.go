package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
)

func deposits(amounts ...int) []eventstore.Event {
	evs := make([]eventstore.Event, len(amounts))
	for i, a := range amounts {
		evs[i] = eventstore.Event{Data: Deposited{Amount: a}}
	}
	return evs
}

// testAppendMulti: parts are appended with their own expected versions and
// returned in the caller's order; when any part is refused, no part is
// written and no outbox entry either, and the error names the stream.
func testAppendMulti(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ctx := ctxT(t)
	res, err := s.AppendMulti(ctx, []eventstore.StreamAppend{
		{StreamID: "multi-b", ExpectedVersion: eventstore.NoStream, Events: deposits(1, 2)},
		{StreamID: "multi-a", ExpectedVersion: eventstore.NoStream, Events: deposits(3)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Version != 2 || res[1].Version != 1 || len(res[0].Records) != 2 ||
		res[0].Records[0].StreamID != "multi-b" || res[1].Records[0].Event != (Deposited{Amount: 3}) {
		t.Fatalf("results = %+v; want multi-b@2 then multi-a@1, in the caller's order", res)
	}
	mustAppend(t, s, "multi-c", eventstore.NoStream, Deposited{Amount: 4})
	if err := s.(eventstore.StreamDeleter).DeleteStream(ctx, "multi-gone", eventstore.NoStream); err != nil {
		t.Fatal(err)
	}

	all := func() int {
		recs, err := s.ReadAll(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	stats := func() int64 {
		st, err := asInspector(t, s).OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Pending
	}
	events, pending := all(), stats()
	if events != 4 || pending != 4 {
		t.Fatalf("after the setup: %d events, %d outbox entries; want 4 and 4", events, pending)
	}
	// Each case's refused part is at a different place in stream id order,
	// so parts before it, after it, or both would have been written.
	good := func(id string, expected int64) eventstore.StreamAppend {
		return eventstore.StreamAppend{StreamID: id, ExpectedVersion: expected, Events: deposits(10, 11)}
	}
	tests := []struct {
		name    string
		appends []eventstore.StreamAppend
		stream  string // the stream the error names
		check   func(error) bool
	}{
		{"first stream stale", []eventstore.StreamAppend{good("multi-a", 0), good("multi-b", 2), good("multi-c", 1), good("multi-new", eventstore.NoStream)}, "multi-a",
			func(err error) bool { return errors.Is(err, eventstore.ErrConflict) }},
		{"middle stream stale", []eventstore.StreamAppend{good("multi-new", eventstore.NoStream), good("multi-c", 1), good("multi-b", 1), good("multi-a", 1)}, "multi-b",
			func(err error) bool { return errors.Is(err, eventstore.ErrConflict) }},
		{"last stream exists", []eventstore.StreamAppend{good("multi-a", 1), good("multi-b", 2), good("multi-c", eventstore.NoStream)}, "multi-c",
			func(err error) bool { return errors.Is(err, eventstore.ErrConflict) }},
		{"a stream is deleted", []eventstore.StreamAppend{good("multi-a", 1), good("multi-gone", eventstore.Any), good("multi-new", eventstore.NoStream)}, "",
			func(err error) bool { return errors.Is(err, eventstore.ErrStreamDeleted) && !catga.IsRetryable(err) }},
		{"a stream twice", []eventstore.StreamAppend{good("multi-a", 1), good("multi-a", eventstore.Any)}, "",
			func(err error) bool { return errors.Is(err, eventstore.ErrInvalidArgument) }},
		{"a part without events", []eventstore.StreamAppend{good("multi-a", 1), {StreamID: "multi-new"}}, "",
			func(err error) bool { return errors.Is(err, eventstore.ErrInvalidArgument) }},
		{"no parts", nil, "",
			func(err error) bool { return errors.Is(err, eventstore.ErrInvalidArgument) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.AppendMulti(ctx, tc.appends)
			if err == nil || !tc.check(err) {
				t.Fatalf("AppendMulti = %+v, %v; want it refused", res, err)
			}
			var ce *eventstore.ConflictError
			if tc.stream != "" && (!errors.As(err, &ce) || ce.StreamID != tc.stream || !catga.IsRetryable(err)) {
				t.Fatalf("error %v does not name stream %s as a retryable ConflictError", err, tc.stream)
			}
			if n, p := all(), stats(); n != events || p != pending {
				t.Fatalf("a refused multi-append left %d events and %d outbox entries; want %d and %d", n, p, events, pending)
			}
			for _, id := range []string{"multi-a", "multi-b", "multi-c", "multi-new"} {
				recs, err := s.Load(ctx, id, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if r.Event == (Deposited{Amount: 10}) {
						t.Fatalf("stream %s holds an event of the refused append", id)
					}
				}
			}
		})
	}
	// The inbox record is written with the parts: a redelivered message
	// appends nothing.
	inboxed := []eventstore.StreamAppend{good("multi-a", 1), good("multi-b", 2)}
	if _, err := s.AppendMulti(ctx, inboxed, eventstore.WithInbox("multi", "msg-1")); err != nil {
		t.Fatal(err)
	}
	inboxed[0].ExpectedVersion, inboxed[1].ExpectedVersion = 3, 4
	if _, err := s.AppendMulti(ctx, inboxed, eventstore.WithInbox("multi", "msg-1")); err == nil {
		t.Fatal("redelivered message appended again")
	}
	if n, p := all(), stats(); n != events+4 || p != pending+4 {
		t.Fatalf("after an append with an inbox record and its redelivery: %d events, %d outbox entries; want %d and %d", n, p, events+4, pending+4)
	}
}

// stockAgg is the suite's multi-aggregate: Counter.N is a SKU's stock,
// Deposited adds to it and a reservation deposits a negative amount.
// Snapshots are taken as reservations cross every third version, so loads
// start from them while other goroutines append.
var stockAgg = eventstore.Aggregate[Counter]{Prefix: "sku-", Evolve: evolveCounter, SnapshotEvery: 3}

var errOutOfStock = catga.Reject("out_of_stock", "not enough stock")

// reserve returns the decision that takes qty of each SKU, all or none.
func reserve(qty map[string]int, tag string) eventstore.DecideMulti[Counter] {
	return func(stock map[string]Counter) (map[string][]any, error) {
		out := make(map[string][]any, len(qty))
		for sku, q := range qty {
			if stock[sku].N < q {
				return nil, errOutOfStock
			}
			out[sku] = []any{eventstore.Event{Data: Deposited{Amount: -q}, Metadata: map[string]string{"reservation": tag}}}
		}
		return out, nil
	}
}

// testMultiReservations: goroutines reserve random sets of SKUs at once
// through Aggregate.HandleMulti, deciding from the loaded stock and retrying
// conflicts. Every reservation that succeeded is in every one of its
// streams exactly once, no refused one left a trace, stock never went
// negative, and overlapping multi-appends did not deadlock.
func testMultiReservations(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ctx := ctxT(t)
	skus := []string{"a", "b", "c", "d"}
	const initial, workers, perWorker = 30, 8, 12
	stock := make(map[string]int, len(skus))
	for _, sku := range skus {
		stock[sku] = initial
	}
	if _, err := stockAgg.HandleMulti(ctx, s, skus, func(map[string]Counter) (map[string][]any, error) {
		out := map[string][]any{}
		for _, sku := range skus {
			out[sku] = []any{Deposited{Amount: initial}}
		}
		return out, nil
	}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	reserved := map[string]map[string]int{} // reservation tag → SKU → qty
	var decisions, calls, rejected atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWorker {
				qty := map[string]int{}
				for _, sku := range skus {
					if rng.IntN(2) == 0 {
						qty[sku] = 1 + rng.IntN(2)
					}
				}
				if len(qty) == 0 {
					qty[skus[rng.IntN(len(skus))]] = 1
				}
				ids := make([]string, 0, len(qty))
				for sku := range qty {
					ids = append(ids, sku)
				}
				rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				tag := fmt.Sprintf("r%d-%d", w, i)
				decide := reserve(qty, tag)
				calls.Add(1)
				states, err := stockAgg.HandleMulti(ctx, s, ids, func(st map[string]Counter) (map[string][]any, error) {
					decisions.Add(1)
					return decide(st)
				}, eventstore.WithMaxAttempts(200))
				switch {
				case errors.Is(err, errOutOfStock):
					rejected.Add(1)
				case err != nil:
					t.Errorf("reservation %s: %v", tag, err)
					return
				default:
					for sku, st := range states {
						if st.Value.N < 0 {
							t.Errorf("reservation %s left %s at %d", tag, sku, st.Value.N)
						}
					}
					mu.Lock()
					reserved[tag] = qty
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d reservations, %d refused for stock, %d decisions (the rest were conflicts retried)", calls.Load(), rejected.Load(), decisions.Load())
	if rejected.Load() == 0 {
		t.Fatal("no reservation ran out of stock: the test does not exercise the invariant")
	}

	want := map[string]map[string]int{} // SKU → tag → qty
	for _, sku := range skus {
		want[sku] = map[string]int{}
	}
	for tag, qty := range reserved {
		for sku, q := range qty {
			want[sku][tag] = q
			stock[sku] -= q
		}
	}
	for _, sku := range skus {
		recs, err := s.Load(ctx, stockAgg.StreamID(sku), 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		n := 0
		for i, r := range recs {
			if r.Version != int64(i)+1 {
				t.Fatalf("sku %s: version %d at index %d", sku, r.Version, i)
			}
			n += r.Event.(Deposited).Amount
			if n < 0 {
				t.Fatalf("sku %s: stock %d after version %d", sku, n, r.Version)
			}
			if tag := r.Metadata["reservation"]; tag != "" {
				if _, dup := got[tag]; dup {
					t.Errorf("sku %s: reservation %s appended twice", sku, tag)
				}
				got[tag] = -r.Event.(Deposited).Amount
			}
		}
		if n != stock[sku] {
			t.Errorf("sku %s: stock %d, want %d", sku, n, stock[sku])
		}
		if st, err := stockAgg.Load(ctx, s, sku); err != nil || st.Value.N != n || st.Version != int64(len(recs)) {
			t.Errorf("sku %s: Load (from a snapshot) = %+v, %v; want N=%d at version %d", sku, st, err, n, len(recs))
		}
		for tag, q := range want[sku] {
			if got[tag] != q {
				t.Errorf("sku %s: reservation %s holds %d, want %d", sku, tag, got[tag], q)
			}
		}
		for tag := range got {
			if _, ok := want[sku][tag]; !ok {
				t.Errorf("sku %s: reservation %s is in the stream but did not succeed", sku, tag)
			}
		}
	}
}

// testHandleMultiArguments: HandleMulti refuses bad input before it writes,
// and returns a rejection as it is, without retrying.
func testHandleMultiArguments(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ctx := ctxT(t)
	none := func(map[string]Counter) (map[string][]any, error) { return nil, nil }
	stranger := func(map[string]Counter) (map[string][]any, error) {
		return map[string][]any{"x": {Deposited{Amount: 1}}, "stranger": {Deposited{Amount: 1}}}, nil
	}
	decisions := 0
	rejecting := func(map[string]Counter) (map[string][]any, error) { decisions++; return nil, errOutOfStock }
	tests := []struct {
		name   string
		ids    []string
		decide eventstore.DecideMulti[Counter]
		want   error
	}{
		{"no ids", nil, none, eventstore.ErrInvalidArgument},
		{"an id twice", []string{"x", "y", "x"}, none, eventstore.ErrInvalidArgument},
		{"a decision for an id not loaded", []string{"x", "y"}, stranger, eventstore.ErrInvalidArgument},
		{"a rejection", []string{"x", "y"}, rejecting, errOutOfStock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := stockAgg.HandleMulti(ctx, s, tc.ids, tc.decide); !errors.Is(err, tc.want) {
				t.Fatalf("HandleMulti = %v, want %v", err, tc.want)
			}
		})
	}
	if decisions != 1 {
		t.Errorf("a rejecting decision ran %d times, want once", decisions)
	}
	if recs, err := s.ReadAll(ctx, 0, 10); err != nil || len(recs) != 0 {
		t.Fatalf("refused commands wrote %d events, %v", len(recs), err)
	}
	states, err := stockAgg.HandleMulti(ctx, s, []string{"x", "y"}, none)
	if err != nil || len(states) != 2 || states["x"].Version != 0 {
		t.Fatalf("a decision with no events = %+v, %v; want the loaded states", states, err)
	}
}

// testMultiFeedTogether: while writers append to three streams at once,
// readers of the feed and of ReadAll see each multi-append whole or not at
// all, and the feed gives its events one transaction key.
func testMultiFeedTogether(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	fs, ok := s.(feedStore)
	if !ok {
		t.Fatalf("%T does not implement eventstore.Feed", s)
	}
	ctx := ctxT(t)
	const writers, groups = 3, 20
	group := func(r eventstore.Record) string { return r.Metadata["group"] }
	// whole checks that a read holds every group whole or not at all.
	whole := func(what string, recs []eventstore.Record) error {
		n := map[string]int{}
		for _, r := range recs {
			if g := group(r); g != "" {
				n[g]++
			}
		}
		for g, k := range n {
			if k != 3 {
				return fmt.Errorf("%s holds %d of the 3 events of multi-append %s", what, k, g)
			}
		}
		return nil
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for _, read := range []func() ([]eventstore.Record, string, error){
		func() ([]eventstore.Record, string, error) {
			recs, err := fs.ReadFeed(ctx, eventstore.Checkpoint{}, 10000)
			return recs, "the feed", err
		},
		func() ([]eventstore.Record, string, error) {
			recs, err := s.ReadAll(ctx, 0, 10000)
			return recs, "ReadAll", err
		},
	} {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				recs, what, err := read()
				if err == nil {
					err = whole(what, recs)
				}
				if err != nil {
					t.Error(err)
					return
				}
				reads.Add(1)
			}
		})
	}
	var wg sync.WaitGroup
	// Single appends in between move the streams' transaction keys apart,
	// so a multi-append may find its streams at different ones. They pause
	// between appends: SQLite's busy wait is not fair, and a writer in a
	// tight loop can starve the others past their busy timeout.
	singles := make(chan struct{})
	wg.Go(func() {
		for i := range writers * groups {
			select {
			case <-singles:
				return
			case <-time.After(time.Millisecond):
			}
			stream := []string{"together-x", "together-y", "together-z"}[i%3]
			if _, err := s.Append(ctx, stream, eventstore.Any, deposits(i)); err != nil {
				t.Errorf("single append: %v", err)
				return
			}
		}
	})
	var multi sync.WaitGroup
	for w := range writers {
		multi.Go(func() {
			for i := range groups {
				g := fmt.Sprintf("g%d-%d", w, i)
				var parts []eventstore.StreamAppend
				for _, st := range []string{"together-x", "together-y", "together-z"}[w%3:] {
					parts = append(parts, eventstore.StreamAppend{StreamID: st, ExpectedVersion: eventstore.Any, Events: []eventstore.Event{{Data: Deposited{Amount: i}, Metadata: map[string]string{"group": g}}}})
				}
				for _, st := range []string{"together-x", "together-y", "together-z"}[:w%3] {
					parts = append(parts, eventstore.StreamAppend{StreamID: st, ExpectedVersion: eventstore.Any, Events: []eventstore.Event{{Data: Deposited{Amount: i}, Metadata: map[string]string{"group": g}}}})
				}
				if _, err := s.AppendMulti(ctx, parts); err != nil {
					t.Errorf("append %s: %v", g, err)
					return
				}
			}
		})
	}
	multi.Wait()
	close(singles)
	wg.Wait()
	// The feed holds back nothing once the writers are done; wait for it
	// all the same, with a deadline, rather than assume it.
	var feed []eventstore.Record
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if feed, err = fs.ReadFeed(ctx, eventstore.Checkpoint{}, 10000); err != nil {
			t.Fatal(err)
		}
		if all, err := s.ReadAll(ctx, 0, 100000); err != nil || len(feed) == len(all) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(done)
	readers.Wait()
	t.Logf("%d whole reads during the appends", reads.Load())
	if err := whole("the final feed", feed); err != nil {
		t.Fatal(err)
	}
	tx := map[string]uint64{}
	n := 0
	for _, r := range feed {
		if group(r) == "" {
			continue
		}
		n++
		if prev, ok := tx[group(r)]; ok && prev != r.Tx {
			t.Fatalf("multi-append %s has events under feed tx %d and %d", group(r), prev, r.Tx)
		}
		tx[group(r)] = r.Tx
	}
	if n != 3*writers*groups {
		t.Fatalf("feed has %d events of multi-appends, want %d", n, 3*writers*groups)
	}
	if !slices.IsSortedFunc(feed, func(a, b eventstore.Record) int {
		if a.Checkpoint().Less(b.Checkpoint()) {
			return -1
		}
		return 1
	}) {
		t.Fatal("feed not in checkpoint order")
	}
}

// testHandleMultiTx: a multi-aggregate command in the caller's transaction
// commits or rolls back with it, all its streams together.
func testHandleMultiTx[Tx any](t *testing.T, s eventstore.TxStore[Tx], begin func(ctx context.Context) (Tx, func(commit bool) error)) {
	ctx := ctxT(t)
	ids := []string{"tx-1", "tx-2"}
	inc := func(map[string]Counter) (map[string][]any, error) {
		return map[string][]any{"tx-1": {Deposited{Amount: 1}}, "tx-2": {Deposited{Amount: 2}}}, nil
	}
	for _, commit := range []bool{false, true} {
		tx, end := begin(ctx)
		st, err := eventstore.HandleAggregateMultiTx(ctx, counterAgg, s, tx, ids, inc)
		if err != nil || st["tx-1"].Value.N != 1 || st["tx-2"].Value.N != 2 {
			t.Fatalf("handle in tx: %+v, %v", st, err)
		}
		// A refused part inside tx undoes the others and leaves tx usable.
		stale := []eventstore.StreamAppend{
			{StreamID: counterAgg.StreamID("tx-0"), ExpectedVersion: eventstore.NoStream, Events: deposits(5)}, // locked first, then undone
			{StreamID: counterAgg.StreamID("tx-1"), ExpectedVersion: eventstore.NoStream, Events: deposits(5)},
		}
		if _, err := s.AppendMultiTx(ctx, tx, stale); !errors.Is(err, eventstore.ErrConflict) {
			t.Fatalf("stale multi-append in tx: %v, want a conflict", err)
		}
		if err := end(commit); err != nil {
			t.Fatal(err)
		}
	}
	for id, n := range map[string]int{"tx-1": 1, "tx-2": 2, "tx-0": 0} {
		if st, err := counterAgg.Load(ctx, s, id); err != nil || st.Value.N != n || st.Version != int64(min(n, 1)) {
			t.Fatalf("%s = %+v, %v; want N=%d from the committed command only", id, st, err, n)
		}
	}
}

// testHandleMultiRetriesConflict: a multi-aggregate command whose decision
// went stale before its append (another writer appended to one of its
// streams meanwhile) is refused as a whole and decided again on fresh
// states: each stream holds the command's events once.
func testHandleMultiRetriesConflict(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ctx := ctxT(t)
	decisions := 0
	_, err := counterAgg.HandleMulti(ctx, s, []string{"rc-1", "rc-2"}, func(map[string]Counter) (map[string][]any, error) {
		decisions++
		if decisions == 1 {
			mustAppend(t, s, counterAgg.StreamID("rc-2"), eventstore.Any, Deposited{Amount: 100})
		}
		return map[string][]any{"rc-1": {Deposited{Amount: 1}}, "rc-2": {Deposited{Amount: 2}}}, nil
	})
	if err != nil || decisions != 2 {
		t.Fatalf("HandleMulti = %v after %d decisions; want success after 2", err, decisions)
	}
	for id, want := range map[string]eventstore.State[Counter]{"rc-1": {Value: Counter{N: 1}, Version: 1}, "rc-2": {Value: Counter{N: 102}, Version: 2}} {
		if st, err := counterAgg.Load(ctx, s, id); err != nil || st != want {
			t.Fatalf("%s = %+v, %v; want %+v", id, st, err, want)
		}
	}
}
