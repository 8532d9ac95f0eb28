// Package eventstoretest is the conformance suite every event store
// implementation passes: the contracts of eventstore.Store,
// eventstore.SnapshotStore, eventstore.Outbox and inbox.Inbox, checked
// against a real backend.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/inbox"
)

// Opener opens stores on one test database; each call returns a new store
// over the same data that uses reg.
type Opener func(t *testing.T, reg *eventstore.Registry) eventstore.Store

// Factory gives each sub-test its own empty database.
type Factory func(t *testing.T) Opener

// Test event and state types registered by [NewRegistry].
type (
	Opened    struct{ Owner string }
	Deposited struct{ Amount int }
	Counter   struct{ N int }
)

// NewRegistry returns a registry with the suite's types.
func NewRegistry() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.MustRegister[Opened](r, "test.opened")
	eventstore.MustRegister[Deposited](r, "test.deposited")
	eventstore.MustRegister[Counter](r, "test.counter")
	return r
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Run runs the suite.
func Run(t *testing.T, factory Factory) {
	t.Run("AppendLoad", func(t *testing.T) { testAppendLoad(t, factory(t)) })
	t.Run("ExpectedVersion", func(t *testing.T) { testExpectedVersion(t, factory(t)) })
	t.Run("ConcurrentAppendsOneWins", func(t *testing.T) { testConcurrent(t, factory(t)) })
	t.Run("AppendMulti", func(t *testing.T) { testAppendMulti(t, factory(t)) })
	t.Run("MultiReservations", func(t *testing.T) { testMultiReservations(t, factory(t)) })
	t.Run("HandleMultiArguments", func(t *testing.T) { testHandleMultiArguments(t, factory(t)) })
	t.Run("HandleMultiRetriesConflict", func(t *testing.T) { testHandleMultiRetriesConflict(t, factory(t)) })
	t.Run("MultiFeedTogether", func(t *testing.T) { testMultiFeedTogether(t, factory(t)) })
	t.Run("ReadAll", func(t *testing.T) { testReadAll(t, factory(t)) })
	t.Run("DecodeErrors", func(t *testing.T) { testDecodeErrors(t, factory(t)) })
	t.Run("Snapshots", func(t *testing.T) { testSnapshots(t, factory(t)) })
	t.Run("AggregateHandle", func(t *testing.T) { testAggregate(t, factory(t)) })
	t.Run("PointerEvents", func(t *testing.T) { testPointerEvents(t, factory(t)) })
	t.Run("DecisionIDs", func(t *testing.T) { testDecisionIDs(t, factory(t)) })
	t.Run("BrokenSnapshot", func(t *testing.T) { testBrokenSnapshot(t, factory(t)) })
	t.Run("UpcastAndRaw", func(t *testing.T) { testUpcastAndRaw(t, factory(t)) })
	t.Run("DeleteStream", func(t *testing.T) { testDeleteStream(t, factory(t)) })
	t.Run("EventMetadata", func(t *testing.T) { testEventMetadata(t, factory(t)) })
	t.Run("InboxAppend", func(t *testing.T) { testInboxAppend(t, factory(t)) })
	t.Run("OutboxClaim", func(t *testing.T) { testOutboxClaim(t, factory(t)) })
	t.Run("OutboxListen", func(t *testing.T) { testOutboxListen(t, factory(t)) })
	t.Run("OutboxPoisonStream", func(t *testing.T) { testOutboxPoisonStream(t, factory(t)) })
	t.Run("OutboxParkRequeue", func(t *testing.T) { testOutboxParkRequeue(t, factory(t)) })
	t.Run("FeedTail", func(t *testing.T) { testFeedTail(t, factory(t)) })
	t.Run("TraceContext", func(t *testing.T) { testTraceContext(t, factory(t)) })
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, expected int64, data ...any) eventstore.AppendResult {
	t.Helper()
	evs := make([]eventstore.Event, len(data))
	for i, d := range data {
		evs[i] = eventstore.Event{Data: d}
	}
	res, err := s.Append(ctxT(t), stream, expected, evs)
	if err != nil {
		t.Fatalf("append %s@%d: %v", stream, expected, err)
	}
	return res
}

func testAppendLoad(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ctx := catga.WithMetadata(ctxT(t), catga.Metadata{MessageID: "cmd-1", CorrelationID: "corr-1"})
	res, err := s.Append(ctx, "acct-1", eventstore.NoStream, []eventstore.Event{
		{ID: "ev-fixed", Data: Opened{Owner: "ann"}},
		{Data: &Deposited{Amount: 5}}, // a pointer to a registered type is accepted
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || len(res.Records) != 2 {
		t.Fatalf("append result = %+v, want version 2 with 2 records", res)
	}
	if res.Records[0].Position <= 0 || res.Records[1].Position <= res.Records[0].Position {
		t.Fatalf("positions not increasing: %d, %d", res.Records[0].Position, res.Records[1].Position)
	}
	recs, err := s.Load(ctx, "acct-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("loaded %d records, want 2", len(recs))
	}
	r0, r1 := recs[0], recs[1]
	if r0.ID != "ev-fixed" || r0.Version != 1 || r0.Type != "test.opened" || r0.Event != (Opened{Owner: "ann"}) {
		t.Errorf("record 0 = %+v", r0)
	}
	if r1.ID == "" || r1.ID == r0.ID || r1.Version != 2 || r1.Event != (Deposited{Amount: 5}) {
		t.Errorf("record 1 = %+v", r1)
	}
	if r0.Position != res.Records[0].Position || r0.StreamID != "acct-1" {
		t.Errorf("record 0 position/stream = %d/%q, want %d/acct-1", r0.Position, r0.StreamID, res.Records[0].Position)
	}
	if r0.CorrelationID != "corr-1" || r0.CausationID != "cmd-1" {
		t.Errorf("metadata = %q/%q, want corr-1/cmd-1", r0.CorrelationID, r0.CausationID)
	}
	if r0.RecordedAt.IsZero() || time.Since(r0.RecordedAt) > time.Hour {
		t.Errorf("recorded at = %v", r0.RecordedAt)
	}
	after, err := s.Load(ctx, "acct-1", 1)
	if err != nil || len(after) != 1 || after[0].Version != 2 {
		t.Errorf("load after 1 = %+v, %v; want version 2 only", after, err)
	}
	none, err := s.Load(ctx, "no-such-stream", 0)
	if err != nil || len(none) != 0 {
		t.Errorf("load of missing stream = %v, %v; want empty, nil", none, err)
	}
	if _, err := s.Append(ctx, "acct-2", eventstore.NoStream, []eventstore.Event{{ID: "ev-fixed", Data: Opened{}}}); err == nil || catga.IsRetryable(err) {
		t.Errorf("append with a duplicate event id: err = %v, want a permanent error", err)
	}
	if recs, _ := s.Load(ctx, "acct-2", 0); len(recs) != 0 {
		t.Errorf("failed append left %d events", len(recs))
	}
}

func testExpectedVersion(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	mustAppend(t, s, "s", eventstore.NoStream, Opened{}, Deposited{Amount: 1})
	tests := []struct {
		name     string
		stream   string
		expected int64
		events   []eventstore.Event
		wantErr  error
		wantVer  int64
		actual   int64 // for conflicts
	}{
		{name: "new stream expected on existing", stream: "s", expected: eventstore.NoStream, events: []eventstore.Event{{Data: Deposited{}}}, wantErr: eventstore.ErrConflict, actual: 2},
		{name: "stale version", stream: "s", expected: 1, events: []eventstore.Event{{Data: Deposited{}}}, wantErr: eventstore.ErrConflict, actual: 2},
		{name: "version ahead", stream: "s", expected: 5, events: []eventstore.Event{{Data: Deposited{}}}, wantErr: eventstore.ErrConflict, actual: 2},
		{name: "existing version on missing stream", stream: "missing", expected: 3, events: []eventstore.Event{{Data: Deposited{}}}, wantErr: eventstore.ErrConflict, actual: 0},
		{name: "current version", stream: "s", expected: 2, events: []eventstore.Event{{Data: Deposited{}}}, wantVer: 3},
		{name: "any on existing", stream: "s", expected: eventstore.Any, events: []eventstore.Event{{Data: Deposited{}}, {Data: Deposited{}}}, wantVer: 5},
		{name: "any on new", stream: "fresh", expected: eventstore.Any, events: []eventstore.Event{{Data: Opened{}}}, wantVer: 1},
		{name: "empty stream id", stream: "", expected: eventstore.Any, events: []eventstore.Event{{Data: Opened{}}}, wantErr: eventstore.ErrInvalidArgument},
		{name: "no events", stream: "s", expected: eventstore.Any, wantErr: eventstore.ErrInvalidArgument},
		{name: "expected below any", stream: "s", expected: -2, events: []eventstore.Event{{Data: Opened{}}}, wantErr: eventstore.ErrInvalidArgument},
		{name: "unregistered type", stream: "s", expected: eventstore.Any, events: []eventstore.Event{{Data: struct{ X int }{}}}, wantErr: eventstore.ErrUnregisteredType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Append(ctxT(t), tt.stream, tt.expected, tt.events)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var ce *eventstore.ConflictError
				if errors.As(err, &ce) && (ce.Actual != tt.actual || ce.Expected != tt.expected || ce.StreamID != tt.stream) {
					t.Fatalf("conflict = %+v, want actual %d", ce, tt.actual)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Version != tt.wantVer {
				t.Fatalf("version = %d, want %d", res.Version, tt.wantVer)
			}
			for i, r := range res.Records {
				if want := tt.wantVer - int64(len(res.Records)) + int64(i) + 1; r.Version != want {
					t.Errorf("record %d version = %d, want %d", i, r.Version, want)
				}
			}
		})
	}
	recs, err := s.Load(ctxT(t), "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Version != int64(i)+1 {
			t.Fatalf("stream versions not contiguous: %d at index %d", r.Version, i)
		}
	}
	if len(recs) != 5 {
		t.Fatalf("stream has %d events, want 5", len(recs))
	}
}

func testConcurrent(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	const writers = 8
	for round, expected := range []int64{eventstore.NoStream, 1, 2} {
		var wg sync.WaitGroup
		errs := make([]error, writers)
		start := make(chan struct{})
		for i := range writers {
			wg.Go(func() {
				<-start
				_, errs[i] = s.Append(ctxT(t), "hot", expected, []eventstore.Event{{Data: Deposited{Amount: i}}})
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, eventstore.ErrConflict):
				if !catga.IsRetryable(err) {
					t.Errorf("conflict should be retryable: %v", err)
				}
			default:
				t.Errorf("round %d: unexpected error %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d (expected %d): %d appends won, want exactly 1", round, expected, wins)
		}
	}
	recs, err := s.Load(ctxT(t), "hot", 0)
	if err != nil || len(recs) != 3 {
		t.Fatalf("load = %d records, %v; want 3", len(recs), err)
	}
}

func testReadAll(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	mustAppend(t, s, "a", eventstore.NoStream, Opened{Owner: "a"})
	mustAppend(t, s, "b", eventstore.NoStream, Opened{Owner: "b"}, Deposited{Amount: 1})
	mustAppend(t, s, "a", 1, Deposited{Amount: 2})
	all, err := s.ReadAll(ctxT(t), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, r := range all {
		if i > 0 && r.Position <= all[i-1].Position {
			t.Fatalf("positions not increasing at %d", i)
		}
		got = append(got, fmt.Sprintf("%s@%d", r.StreamID, r.Version))
	}
	if want := []string{"a@1", "b@1", "b@2", "a@2"}; !slices.Equal(got, want) {
		t.Fatalf("read all = %v, want %v", got, want)
	}
	page, err := s.ReadAll(ctxT(t), all[1].Position, 2)
	if err != nil || len(page) != 2 || page[0].Position != all[2].Position || page[1].Event != (Deposited{Amount: 2}) {
		t.Fatalf("page after %d = %+v, %v", all[1].Position, page, err)
	}
	if _, err := s.ReadAll(ctxT(t), 0, 0); !errors.Is(err, eventstore.ErrInvalidArgument) {
		t.Fatalf("limit 0: err = %v, want ErrInvalidArgument", err)
	}
}

func testDecodeErrors(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	mustAppend(t, s, "d", eventstore.NoStream, Opened{Owner: "x"}, Deposited{Amount: 3})

	missing := eventstore.NewRegistry()
	eventstore.MustRegister[Opened](missing, "test.opened")
	type wrongShape struct{ Amount string }
	wrong := eventstore.NewRegistry()
	eventstore.MustRegister[Opened](wrong, "test.opened")
	eventstore.MustRegister[wrongShape](wrong, "test.deposited")

	tests := []struct {
		name string
		reg  *eventstore.Registry
		want error
	}{
		{name: "unknown type", reg: missing, want: eventstore.ErrUnknownEventType},
		{name: "malformed data", reg: wrong, want: eventstore.ErrMalformedEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := open(t, tt.reg)
			for _, read := range []func() error{
				func() error { _, err := other.Load(ctxT(t), "d", 0); return err },
				func() error { _, err := other.ReadAll(ctxT(t), 0, 10); return err },
			} {
				err := read()
				var de *eventstore.DecodeError
				if !errors.As(err, &de) || !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want a DecodeError wrapping %v", err, tt.want)
				}
				if de.StreamID != "d" || de.Version != 2 || de.Type != "test.deposited" {
					t.Fatalf("decode error names %q@%d (%s), want d@2 (test.deposited)", de.StreamID, de.Version, de.Type)
				}
				if catga.IsRetryable(err) {
					t.Fatalf("decode error should be permanent: %v", err)
				}
			}
		})
	}
}

func testSnapshots(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ss, ok := s.(eventstore.SnapshotStore)
	if !ok {
		t.Fatalf("%T does not implement eventstore.SnapshotStore", s)
	}
	ctx := ctxT(t)
	if _, err := ss.LoadSnapshot(ctx, "c"); !errors.Is(err, eventstore.ErrNoSnapshot) {
		t.Fatalf("no snapshot: err = %v", err)
	}
	if err := ss.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "c", Version: 2, State: Counter{N: 7}}); err != nil {
		t.Fatal(err)
	}
	if err := ss.SaveSnapshot(ctx, eventstore.Snapshot{StreamID: "c", Version: 1, State: Counter{N: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := ss.LoadSnapshot(ctx, "c")
	if err != nil || got.Version != 2 || got.State != (Counter{N: 7}) {
		t.Fatalf("snapshot = %+v, %v; want version 2, N 7 (older save must not win)", got, err)
	}
	// LoadState starts from the snapshot and folds only later events: the
	// stream's first two events are never read.
	mustAppend(t, s, "c", eventstore.NoStream, Deposited{Amount: 100}, Deposited{Amount: 100}, Deposited{Amount: 1})
	st, err := eventstore.LoadState(ctx, s, "c", Counter{}, evolveCounter)
	if err != nil || st.Version != 3 || st.Value.N != 8 {
		t.Fatalf("state = %+v, %v; want version 3, N 8", st, err)
	}
}

func evolveCounter(c Counter, ev any) Counter {
	if d, ok := ev.(Deposited); ok {
		c.N += d.Amount
	}
	return c
}

func testAggregate(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	inc := func(c Counter) ([]any, error) { return []any{Deposited{Amount: 1}}, nil }
	const workers = 5
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i := range workers {
		wg.Go(func() {
			_, errs[i] = eventstore.Handle(ctxT(t), s, "agg", Counter{}, evolveCounter, inc, eventstore.WithMaxAttempts(50), eventstore.WithSnapshotEvery(2))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("handle: %v", err)
		}
	}
	st, err := eventstore.LoadState(ctxT(t), s, "agg", Counter{}, evolveCounter)
	if err != nil || st.Value.N != workers || st.Version != workers {
		t.Fatalf("state = %+v, %v; want N=%d at version %d", st, err, workers, workers)
	}

	tests := []struct {
		name    string
		decide  eventstore.Decide[Counter]
		want    error
		wantVer int64
	}{
		{name: "rejection is returned, nothing appended", decide: func(Counter) ([]any, error) { return nil, catga.Reject("too_big", "no") }, want: catga.ErrRejected, wantVer: workers},
		{name: "no events, no append", decide: func(Counter) ([]any, error) { return nil, nil }, wantVer: workers},
		{name: "events appended", decide: func(c Counter) ([]any, error) { return []any{Deposited{Amount: c.N}}, nil }, wantVer: workers + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			decide := func(c Counter) ([]any, error) { calls++; return tt.decide(c) }
			st, err := eventstore.Handle(ctxT(t), s, "agg", Counter{}, evolveCounter, decide)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if calls != 1 {
				t.Fatalf("decide ran %d times, want 1", calls)
			}
			if st.Version != tt.wantVer {
				t.Fatalf("version = %d, want %d", st.Version, tt.wantVer)
			}
		})
	}

	// A writer that always gets in first exhausts the attempts.
	attempts := 0
	_, err = eventstore.Handle(ctxT(t), s, "agg", Counter{}, evolveCounter, func(Counter) ([]any, error) {
		attempts++
		mustAppend(t, s, "agg", eventstore.Any, Deposited{Amount: 0})
		return []any{Deposited{Amount: 1}}, nil
	}, eventstore.WithMaxAttempts(3))
	if !errors.Is(err, eventstore.ErrConflict) || attempts != 3 {
		t.Fatalf("err = %v after %d attempts; want ErrConflict after 3", err, attempts)
	}
}

func testInboxAppend(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	const deliveries = 6
	var wg sync.WaitGroup
	errs := make([]error, deliveries)
	for i := range deliveries {
		wg.Go(func() {
			_, errs[i] = s.Append(ctxT(t), "pay-1", eventstore.Any, []eventstore.Event{{Data: Deposited{Amount: 10}}},
				eventstore.WithInbox("payments", "msg-1"))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, inbox.ErrDuplicate):
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d deliveries appended, want exactly 1", ok)
	}
	// Another consumer of the same message is independent.
	if _, err := s.Append(ctxT(t), "pay-1", eventstore.Any, []eventstore.Event{{Data: Deposited{Amount: 1}}}, eventstore.WithInbox("audit", "msg-1")); err != nil {
		t.Fatal(err)
	}
	// A refused append records nothing, so the redelivery can apply.
	if _, err := s.Append(ctxT(t), "pay-1", 99, []eventstore.Event{{Data: Deposited{Amount: 1}}}, eventstore.WithInbox("payments", "msg-2")); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("err = %v, want conflict", err)
	}
	if _, err := s.Append(ctxT(t), "pay-1", eventstore.Any, []eventstore.Event{{Data: Deposited{Amount: 1}}}, eventstore.WithInbox("payments", "msg-2")); err != nil {
		t.Fatalf("redelivery after refused append: %v", err)
	}
	recs, err := s.Load(ctxT(t), "pay-1", 0)
	if err != nil || len(recs) != 3 {
		t.Fatalf("stream has %d events, %v; want 3", len(recs), err)
	}
}

// testTraceContext: the appending request's W3C trace context is stored
// with its events and handed to the relay, so a trace crosses the outbox;
// an untraced append stores none.
func testTraceContext(t *testing.T, open Opener) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	s := open(t, NewRegistry())

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(ctxT(t), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	if _, err := s.Append(traced, "traced", eventstore.NoStream, []eventstore.Event{{Data: Opened{}}, {Data: Deposited{Amount: 1}}}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "untraced", eventstore.NoStream, Opened{})

	const want = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	recs, err := s.Load(ctxT(t), "traced", 0)
	if err != nil || len(recs) != 2 {
		t.Fatalf("Load = %d records, %v", len(recs), err)
	}
	for _, r := range recs {
		if r.Trace["traceparent"] != want {
			t.Errorf("traced@%d: trace %v, want traceparent %s", r.Version, r.Trace, want)
		}
	}
	if recs, err := s.Load(ctxT(t), "untraced", 0); err != nil || len(recs) != 1 || len(recs[0].Trace) != 0 {
		t.Errorf("untraced: %v, %v; want one record without trace", recs, err)
	}
	var claimed []eventstore.Record
	if _, err := asOutbox(t, s).Claim(ctxT(t), "relay-trace", 100, func(_ context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
		claimed = append(claimed, records(entries)...)
		return eventstore.Outcome{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range claimed {
		if got := r.Trace["traceparent"]; (r.StreamID == "traced") != (got == want) {
			t.Errorf("outbox %s@%d: traceparent %q", r.StreamID, r.Version, got)
		}
	}
}

// RunInbox checks the inbox.Inbox contract: effect runs once per
// (consumer, message id) however often and concurrently it is delivered, a
// failed effect records nothing, consumers are independent.
func RunInbox[Tx any](t *testing.T, in inbox.Inbox[Tx]) {
	ctx := ctxT(t)
	var mu sync.Mutex
	effects := map[string]int{}
	effect := func(key string) func(context.Context, Tx) error {
		return func(context.Context, Tx) error {
			mu.Lock()
			effects[key]++
			mu.Unlock()
			return nil
		}
	}
	const deliveries = 6
	var wg sync.WaitGroup
	errs := make([]error, deliveries)
	for i := range deliveries {
		wg.Go(func() { errs[i] = in.Process(ctx, "c1", "m1", effect("c1/m1")) })
	}
	wg.Wait()
	dups := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, inbox.ErrDuplicate):
			dups++
		case err != nil:
			t.Fatalf("process: %v", err)
		}
	}
	if dups != deliveries-1 || effects["c1/m1"] != 1 {
		t.Fatalf("%d duplicates and %d effects; want %d and 1", dups, effects["c1/m1"], deliveries-1)
	}
	if err := in.Process(ctx, "c2", "m1", effect("c2/m1")); err != nil || effects["c2/m1"] != 1 {
		t.Fatalf("other consumer: %v, %d effects", err, effects["c2/m1"])
	}
	boom := errors.New("effect failed")
	if err := in.Process(ctx, "c1", "m2", func(context.Context, Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing effect: err = %v", err)
	}
	if err := in.Process(ctx, "c1", "m2", effect("c1/m2")); err != nil || effects["c1/m2"] != 1 {
		t.Fatalf("redelivery after failed effect: %v, %d effects; want it applied", err, effects["c1/m2"])
	}

	p, ok := in.(inbox.Pruner)
	if !ok {
		return
	}
	n, err := p.Prune(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("prune of nothing old = %d, %v", n, err)
	}
	n, err = p.Prune(ctx, time.Now().Add(time.Second))
	if err != nil || n != 3 {
		t.Fatalf("prune = %d, %v; want the 3 records", n, err)
	}
	if err := in.Process(ctx, "c1", "m1", effect("c1/m1")); err != nil || effects["c1/m1"] != 2 {
		t.Fatalf("after prune: %v, %d effects; a pruned message applies again", err, effects["c1/m1"])
	}
}
