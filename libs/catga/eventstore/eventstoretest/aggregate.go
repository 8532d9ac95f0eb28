package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
)

// counterAgg is the suite's aggregate: Deposited events add to N.
var counterAgg = eventstore.Aggregate[Counter]{Prefix: "counter-", Evolve: evolveCounter, SnapshotEvery: 1}

// testPointerEvents: decide returns a pointer (which Append accepts). The
// state Handle returns, and the snapshot it saves, are folded from the
// events as stored, exactly as a later load folds them.
func testPointerEvents(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ctx := ctxT(t)
	st, err := counterAgg.Handle(ctx, s, "p", func(Counter) ([]any, error) {
		return []any{&Deposited{Amount: 2}, Deposited{Amount: 3}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Value.N != 5 || st.Version != 2 {
		t.Fatalf("Handle returned %+v, want N=5 at version 2", st)
	}
	if snap, err := s.(eventstore.SnapshotStore).LoadSnapshot(ctx, "counter-p"); err != nil || snap.State != (Counter{N: 5}) {
		t.Fatalf("snapshot = %+v, %v; want N=5", snap, err)
	}
	loaded, err := counterAgg.Load(ctx, s, "p")
	if err != nil || loaded != st {
		t.Fatalf("Load = %+v, %v; want %+v", loaded, err, st)
	}
	replayed, err := eventstore.LoadState(ctx, s, "counter-p", Counter{}, evolveCounter)
	if err != nil || replayed != st {
		t.Fatalf("replay = %+v, %v; want %+v", replayed, err, st)
	}
}

// testDecisionIDs: a decision can carry the event id, so a command retried
// after its append committed cannot append again.
func testDecisionIDs(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ctx := ctxT(t)
	deposit := func(Counter) ([]any, error) {
		return []any{eventstore.Event{ID: "cmd-42/deposit", Data: Deposited{Amount: 1}}}, nil
	}
	if _, err := counterAgg.Handle(ctx, s, "ids", deposit); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Load(ctx, "counter-ids", 0)
	if err != nil || len(recs) != 1 || recs[0].ID != "cmd-42/deposit" {
		t.Fatalf("stream = %+v, %v; want the event with the decided id", recs, err)
	}
	if _, err := counterAgg.Handle(ctx, s, "ids", deposit); err == nil || catga.IsRetryable(err) {
		t.Fatalf("retried command: err = %v, want a permanent duplicate-id error", err)
	}
	if st, err := counterAgg.Load(ctx, s, "ids"); err != nil || st.Value.N != 1 {
		t.Fatalf("state = %+v, %v; want N=1", st, err)
	}
}

// testBrokenSnapshot: a snapshot that no longer decodes does not make the
// aggregate unloadable (the stream is replayed), and one of another schema
// version is ignored and then replaced.
func testBrokenSnapshot(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ctx := ctxT(t)
	inc := func(Counter) ([]any, error) { return []any{Deposited{Amount: 1}}, nil }
	// A buggy evolve (counting 10 per deposit) saves wrong snapshots
	// under schema version 0.
	buggy := counterAgg
	buggy.Evolve = func(c Counter, ev any) Counter { c.N += 10; return c }
	for range 3 {
		if _, err := buggy.Handle(ctx, s, "b", inc); err != nil {
			t.Fatal(err)
		}
	}
	fixed := counterAgg
	fixed.SnapshotVersion = 1
	st, err := fixed.Load(ctx, s, "b")
	if err != nil || st.Value.N != 3 || st.Version != 3 {
		t.Fatalf("fixed evolve with a new snapshot version: %+v, %v; want N=3 (the old snapshot ignored)", st, err)
	}
	if st, err := fixed.Handle(ctx, s, "b", inc); err != nil || st.Value.N != 4 {
		t.Fatalf("handle = %+v, %v; want N=4", st, err)
	}
	snap, err := s.(eventstore.SnapshotStore).LoadSnapshot(ctx, "counter-b")
	if err != nil || snap.SchemaVersion != 1 || snap.State != (Counter{N: 4}) {
		t.Fatalf("snapshot = %+v, %v; want schema 1, N=4", snap, err)
	}

	// The snapshot's type changed shape: it no longer decodes.
	type counterV2 struct{ N []string }
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[Deposited](reg, "test.deposited")
	eventstore.MustRegister[counterV2](reg, "test.counter")
	other := open(t, reg)
	if _, err := other.(eventstore.SnapshotStore).LoadSnapshot(ctx, "counter-b"); !errors.As(err, new(*eventstore.DecodeError)) {
		t.Fatalf("LoadSnapshot = %v, want a DecodeError", err)
	}
	st, err = fixed.Load(ctx, other, "b")
	if err != nil || st.Value.N != 4 || st.Version != 4 {
		t.Fatalf("load with an undecodable snapshot: %+v, %v; want a full replay, N=4", st, err)
	}
	if err := s.(eventstore.SnapshotStore).DeleteSnapshot(ctx, "counter-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.(eventstore.SnapshotStore).LoadSnapshot(ctx, "counter-b"); !errors.Is(err, eventstore.ErrNoSnapshot) {
		t.Fatalf("after delete: %v, want ErrNoSnapshot", err)
	}
}

// testHandleTx: a command appended in the caller's transaction commits or
// rolls back with it.
func testHandleTx[Tx any](t *testing.T, s eventstore.TxStore[Tx], begin func(ctx context.Context) (Tx, func(commit bool) error)) {
	ctx := ctxT(t)
	inc := func(Counter) ([]any, error) { return []any{Deposited{Amount: 1}}, nil }
	for _, commit := range []bool{false, true} {
		tx, end := begin(ctx)
		st, err := eventstore.HandleAggregateTx(ctx, counterAgg, s, tx, "tx", inc)
		if err != nil || st.Value.N != 1 {
			t.Fatalf("handle in tx: %+v, %v", st, err)
		}
		if err := end(commit); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := counterAgg.Load(ctx, s, "tx"); err != nil || st.Value.N != 1 || st.Version != 1 {
		t.Fatalf("state = %+v, %v; want only the committed command", st, err)
	}
}

// RunHandleTx checks [eventstore.HandleTx] against s; begin starts a
// transaction and returns a function that commits or rolls it back.
func RunHandleTx[Tx any](t *testing.T, s eventstore.TxStore[Tx], begin func(ctx context.Context) (Tx, func(commit bool) error)) {
	testHandleTx(t, s, begin)
	testHandleMultiTx(t, s, begin)
}

// testUpcastAndRaw: events stored under an old name read back as the
// current type through an upcaster; a reader with a raw-unknown registry
// reads types it does not know as Raw instead of failing.
func testUpcastAndRaw(t *testing.T, open Opener) {
	type depositedV1 struct{ Cents int }
	old := eventstore.NewRegistry()
	eventstore.MustRegister[depositedV1](old, "test.deposited.v1")
	eventstore.MustRegister[Opened](old, "test.opened")
	writer := open(t, old)
	mustAppend(t, writer, "u", eventstore.NoStream, Opened{Owner: "ann"}, depositedV1{Cents: 300})

	current := NewRegistry()
	eventstore.MustRegisterUpcast(current, "test.deposited.v1", func(v depositedV1) Deposited { return Deposited{Amount: v.Cents / 100} })
	st, err := eventstore.LoadState(ctxT(t), open(t, current), "u", Counter{}, evolveCounter)
	if err != nil || st.Value.N != 3 || st.Version != 2 {
		t.Fatalf("state through the upcaster = %+v, %v; want N=3", st, err)
	}

	partial := eventstore.NewRegistry(eventstore.WithRawUnknown())
	eventstore.MustRegister[Opened](partial, "test.opened")
	recs, err := open(t, partial).Load(ctxT(t), "u", 0)
	if err != nil || len(recs) != 2 || recs[0].Event != (Opened{Owner: "ann"}) {
		t.Fatalf("raw-unknown read = %+v, %v", recs, err)
	}
	if raw, ok := recs[1].Event.(eventstore.Raw); !ok || raw.Type != "test.deposited.v1" || string(raw.Data) != `{"Cents":300}` {
		t.Fatalf("unknown type read as %#v, want a Raw", recs[1].Event)
	}
}

// testDeleteStream: a deleted stream refuses appends and loads for good,
// loses its snapshot, and keeps its events in the log.
func testDeleteStream(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	del, ok := s.(eventstore.StreamDeleter)
	if !ok {
		t.Fatalf("%T does not implement eventstore.StreamDeleter", s)
	}
	ctx := ctxT(t)
	if _, err := counterAgg.Handle(ctx, s, "d", func(Counter) ([]any, error) { return []any{Deposited{Amount: 1}, Deposited{Amount: 2}}, nil }); err != nil {
		t.Fatal(err)
	}
	var ce *eventstore.ConflictError
	if err := del.DeleteStream(ctx, "counter-d", 1); !errors.As(err, &ce) || ce.Actual != 2 {
		t.Fatalf("delete at a stale version: %v, want a conflict at 2", err)
	}
	if err := del.DeleteStream(ctx, "counter-d", 2); err != nil {
		t.Fatal(err)
	}
	deleted := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, eventstore.ErrStreamDeleted) || catga.IsRetryable(err) {
			t.Fatalf("%s: %v, want a permanent ErrStreamDeleted", what, err)
		}
	}
	for _, expected := range []int64{eventstore.Any, eventstore.NoStream, 2} {
		_, err := s.Append(ctx, "counter-d", expected, []eventstore.Event{{Data: Deposited{Amount: 1}}})
		deleted(fmt.Sprintf("append at %d", expected), err)
	}
	_, err := s.Load(ctx, "counter-d", 0)
	deleted("load", err)
	_, err = counterAgg.Handle(ctx, s, "d", func(Counter) ([]any, error) { return []any{Deposited{}}, nil })
	deleted("handle", err)
	deleted("delete again", del.DeleteStream(ctx, "counter-d", eventstore.Any))
	if _, err := s.(eventstore.SnapshotStore).LoadSnapshot(ctx, "counter-d"); !errors.Is(err, eventstore.ErrNoSnapshot) {
		t.Fatalf("snapshot of a deleted stream: %v, want none", err)
	}
	all, err := s.ReadAll(ctx, 0, 10)
	if err != nil || len(all) != 2 {
		t.Fatalf("log after delete = %d events, %v; want both kept", len(all), err)
	}
	// Deleting a stream that never existed reserves its id.
	if err := del.DeleteStream(ctx, "never", eventstore.NoStream); err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(ctx, "never", eventstore.NoStream, []eventstore.Event{{Data: Opened{}}})
	deleted("append to a reserved id", err)
	if err := del.DeleteStream(ctx, "missing", 3); !errors.As(err, &ce) || ce.Actual != 0 {
		t.Fatalf("delete of a missing stream at version 3: %v, want a conflict", err)
	}
	// Appends to other streams are unaffected.
	mustAppend(t, s, "alive", eventstore.NoStream, Opened{})
}

// testEventMetadata: an event's metadata is stored with it and comes back
// from every read, the outbox's included.
func testEventMetadata(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ctx := ctxT(t)
	meta := map[string]string{"tenant": "acme", "user": "ann"}
	if _, err := counterAgg.Handle(ctx, s, "m", func(Counter) ([]any, error) {
		return []any{eventstore.Event{Data: Deposited{Amount: 1}, Metadata: meta}, Deposited{Amount: 2}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, recs []eventstore.Record) {
		t.Helper()
		if len(recs) != 2 || !maps.Equal(recs[0].Metadata, meta) || len(recs[1].Metadata) != 0 {
			t.Fatalf("%s: metadata %v, %v; want %v and none", what, recs[0].Metadata, recs[1:], meta)
		}
	}
	recs, err := s.Load(ctx, "counter-m", 0)
	if err != nil {
		t.Fatal(err)
	}
	check("Load", recs)
	all, err := s.ReadAll(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	check("ReadAll", all)
	if f, ok := s.(eventstore.Feed); ok {
		feed, err := f.ReadFeed(ctx, eventstore.Checkpoint{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		check("ReadFeed", feed)
	}
	var claimed []eventstore.Record
	if _, err := asOutbox(t, s).Claim(ctx, "relay", 10, func(_ context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
		claimed = records(entries)
		return eventstore.Outcome{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	check("Claim", claimed)
}
