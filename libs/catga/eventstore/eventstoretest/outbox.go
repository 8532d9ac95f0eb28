package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

func asOutbox(t *testing.T, s eventstore.Store) eventstore.Outbox {
	t.Helper()
	ob, ok := s.(eventstore.Outbox)
	if !ok {
		t.Fatalf("%T does not implement eventstore.Outbox", s)
	}
	return ob
}

func asInspector(t *testing.T, s eventstore.Store) eventstore.OutboxInspector {
	t.Helper()
	in, ok := s.(eventstore.OutboxInspector)
	if !ok {
		t.Fatalf("%T does not implement eventstore.OutboxInspector", s)
	}
	return in
}

func testOutboxClaim(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ob := asOutbox(t, s)
	ctx := ctxT(t)
	mustAppend(t, s, "x", eventstore.NoStream, Opened{}, Deposited{Amount: 1}, Deposited{Amount: 2})
	mustAppend(t, s, "y", eventstore.NoStream, Opened{})

	// Publish only x@1: x@2 and x@3 stay pending, and in order.
	var nested []eventstore.Pending
	res, err := ob.Claim(ctx, "relay-a", 100, func(ctx context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
		if got := streamsVersions(entries); !slices.Equal(got, []string{"x@1", "x@2", "x@3", "y@1"}) {
			t.Errorf("claimed %v", got)
		}
		for _, e := range entries {
			if e.ID == "" || len(e.Data) == 0 || e.Type == "" || e.Attempts != 0 {
				t.Errorf("claimed entry lacks id/data/type or has attempts: %+v", e)
			}
		}
		// While this claim runs, another relay gets none of its streams.
		_, err := ob.Claim(ctx, "relay-b", 100, func(_ context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
			nested = entries
			return eventstore.Outcome{}, nil
		})
		if err != nil {
			t.Errorf("nested claim: %v", err)
		}
		return eventstore.Outcome{Published: []int64{entries[0].Position}}, nil
	})
	if err != nil || res.Published != 1 || res.Claimed != 4 {
		t.Fatalf("claim = %+v, %v; want 4 claimed, 1 published", res, err)
	}
	if len(nested) != 0 {
		t.Fatalf("concurrent claim got %v, want nothing", streamsVersions(nested))
	}
	// A failed publish that names no entry changes nothing.
	boom := errors.New("nats down")
	res, err = ob.Claim(ctx, "relay-a", 100, func(context.Context, []eventstore.Pending) (eventstore.Outcome, error) {
		return eventstore.Outcome{}, boom
	})
	if !errors.Is(err, boom) || res.Published != 0 || res.Claimed != 3 {
		t.Fatalf("claim = %+v, %v; want 3 claimed, 0 published, %v", res, err, boom)
	}
	var rest []string
	res, err = ob.Claim(ctx, "relay-b", 100, func(_ context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
		rest = streamsVersions(entries)
		return eventstore.Outcome{Published: positions(entries)}, nil
	})
	if err != nil || res.Published != 3 || !slices.Equal(rest, []string{"x@2", "x@3", "y@1"}) {
		t.Fatalf("claim = %+v %v, %v; want 3 [x@2 x@3 y@1]", res, rest, err)
	}
	res, err = ob.Claim(ctx, "relay-b", 100, func(context.Context, []eventstore.Pending) (eventstore.Outcome, error) {
		t.Error("publish called with an empty outbox")
		return eventstore.Outcome{}, nil
	})
	if err != nil || res != (eventstore.ClaimResult{}) {
		t.Fatalf("empty claim = %+v, %v", res, err)
	}
}

// testOutboxPoisonStream: a stream whose entries can never be published
// holds the 16 oldest entries, and the batch size is 16. Healthy streams
// appended after it still go out, the failing stream is held between
// attempts and its entries are parked, with the reason, after a bounded
// number of attempts — however the claims are cut.
func testOutboxPoisonStream(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ob := asOutbox(t, s)
	ctx := ctxT(t)
	const batch, poison, healthy, maxAttempts = 16, 16, 8, 3
	for range poison {
		mustAppend(t, s, "poison", eventstore.Any, Deposited{Amount: -1})
	}
	for i := range healthy {
		mustAppend(t, s, fmt.Sprintf("ok-%d", i), eventstore.NoStream, Opened{}, Deposited{Amount: i})
	}
	published := map[string]bool{}
	attempts := map[int64]int{}
	deadline := time.Now().Add(20 * time.Second)
	for len(published) < 2*healthy {
		if time.Now().After(deadline) {
			t.Fatalf("healthy streams starved: %d of %d published", len(published), 2*healthy)
		}
		_, err := ob.Claim(ctx, "relay", batch, func(_ context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
			var out eventstore.Outcome
			failed := map[string]bool{}
			for _, e := range entries {
				switch {
				case failed[e.StreamID]:
					// A relay stops a stream at its first failure.
				case e.StreamID == "poison":
					failed[e.StreamID] = true
					attempts[e.Position]++
					if e.Attempts != attempts[e.Position]-1 {
						t.Errorf("poison@%d: %d attempts recorded, want %d", e.Version, e.Attempts, attempts[e.Position]-1)
					}
					out.Failed = append(out.Failed, eventstore.Failure{
						Position: e.Position, Reason: fmt.Sprintf("no stream captures poison@%d", e.Version),
						RetryAfter: time.Hour, Park: e.Attempts+1 >= maxAttempts,
					})
				default:
					published[fmt.Sprintf("%s@%d", e.StreamID, e.Version)] = true
					out.Published = append(out.Published, e.Position)
				}
			}
			return out, errors.New("some publishes failed")
		})
		if err == nil {
			t.Fatal("claim: want publish's error")
		}
	}
	// The poison stream was held for an hour after its first failure: it
	// was tried once while the healthy streams drained.
	if len(attempts) != 1 {
		t.Fatalf("poison entries tried: %v, want only the head, once", attempts)
	}
	st, err := asInspector(t, s).OutboxStats(ctx)
	if err != nil || st.Pending != poison || st.Held != 1 || st.Parked != 0 || st.OldestPending.IsZero() {
		t.Fatalf("stats = %+v, %v; want %d pending, 1 held, none parked", st, err, poison)
	}
	// A held stream is not claimed before its retry time.
	if res, err := ob.Claim(ctx, "relay", batch, func(_ context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
		t.Errorf("held stream claimed: %v", streamsVersions(entries))
		return eventstore.Outcome{}, nil
	}); err != nil || res.Claimed != 0 {
		t.Fatalf("claim while held = %+v, %v", res, err)
	}
}

// testOutboxParkRequeue: failures with a short hold are retried, counted,
// and parked with their reason at the bound; the stream then goes on with
// its next entry. A parked entry can be listed and requeued.
func testOutboxParkRequeue(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ob := asOutbox(t, s)
	in := asInspector(t, s)
	ctx := ctxT(t)
	mustAppend(t, s, "p", eventstore.NoStream, Opened{Owner: "bad"}, Deposited{Amount: 1})
	const maxAttempts = 3
	var order []string
	deadline := time.Now().Add(20 * time.Second)
	for len(order) < 1 || order[len(order)-1] != "published p@2" {
		if time.Now().After(deadline) {
			t.Fatalf("stream did not go on after parking: %v", order)
		}
		res, err := ob.Claim(ctx, "relay", 16, func(_ context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
			e := entries[0]
			if e.Version == 1 {
				order = append(order, fmt.Sprintf("failed p@1 after %d", e.Attempts))
				return eventstore.Outcome{Failed: []eventstore.Failure{{
					Position: e.Position, Reason: "too large", RetryAfter: time.Millisecond, Park: e.Attempts+1 >= maxAttempts,
				}}}, nil
			}
			order = append(order, fmt.Sprintf("published p@%d", e.Version))
			return eventstore.Outcome{Published: []int64{e.Position}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Claimed == 0 {
			time.Sleep(2 * time.Millisecond) // held for a millisecond
		}
	}
	want := []string{"failed p@1 after 0", "failed p@1 after 1", "failed p@1 after 2", "published p@2"}
	if !slices.Equal(order, want) {
		t.Fatalf("publishes %v, want %v", order, want)
	}
	parked, err := in.Parked(ctx, 10)
	if err != nil || len(parked) != 1 {
		t.Fatalf("parked = %+v, %v; want one entry", parked, err)
	}
	if p := parked[0]; p.StreamID != "p" || p.Version != 1 || p.Attempts != maxAttempts || p.Reason != "too large" || p.ParkedAt.IsZero() || !strings.Contains(string(p.Data), "bad") {
		t.Fatalf("parked entry = %+v", p)
	}
	st, err := in.OutboxStats(ctx)
	if err != nil || st != (eventstore.OutboxStats{Parked: 1}) {
		t.Fatalf("stats = %+v, %v; want only 1 parked", st, err)
	}
	if err := in.Requeue(ctx, parked[0].Position+1000); !errors.Is(err, eventstore.ErrNotParked) {
		t.Fatalf("requeue of a position not parked: %v", err)
	}
	if err := in.Requeue(ctx, parked[0].Position); err != nil {
		t.Fatal(err)
	}
	var again []eventstore.Pending
	if _, err := ob.Claim(ctx, "relay", 16, func(_ context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
		again = entries
		return eventstore.Outcome{Published: positions(entries)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].Version != 1 || again[0].Attempts != 0 {
		t.Fatalf("after requeue claimed %+v, want p@1 with attempts reset", again)
	}
	if st, err := in.OutboxStats(ctx); err != nil || st != (eventstore.OutboxStats{}) {
		t.Fatalf("stats = %+v, %v; want empty", st, err)
	}
}

func testOutboxListen(t *testing.T, open Opener) {
	s := open(t, NewRegistry())
	ob := asOutbox(t, s)
	ctx := ctxT(t)
	l, err := ob.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	mustAppend(t, s, "w", eventstore.NoStream, Opened{})
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.Wait(wctx); err != nil {
		t.Fatalf("wait after append: %v", err)
	}
	// Nothing committed since (a debounced announcement of the same commit
	// may still arrive once): then Wait blocks until its context ends.
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if err := l.Wait(short); err == nil {
		short, cancel2 = context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel2()
		err = l.Wait(short)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("wait with nothing new = %v, want deadline exceeded", err)
		}
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with nothing new = %v, want deadline exceeded", err)
	}
}

func records(entries []eventstore.Pending) []eventstore.Record {
	out := make([]eventstore.Record, len(entries))
	for i, e := range entries {
		out[i] = e.Record
	}
	return out
}

func streamsVersions(entries []eventstore.Pending) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = fmt.Sprintf("%s@%d", e.StreamID, e.Version)
	}
	return out
}

func positions(entries []eventstore.Pending) []int64 {
	out := make([]int64, len(entries))
	for i, e := range entries {
		out[i] = e.Position
	}
	return out
}
