package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// finish moves rec to state with an Update, as the engine's final
// transition does.
func finish(t *testing.T, ctx context.Context, s sagastore.Store, rec *sagastore.Record, state sagastore.State) {
	t.Helper()
	rec.State, rec.UpdatedAt = state, time.Now().UTC()
	v, err := s.Update(ctx, *rec)
	if err != nil {
		t.Fatalf("Update to %s: %v", state, err)
	}
	rec.Version = v
}

func running(t *testing.T, ctx context.Context, s sagastore.Store, n int) []sagastore.Record {
	t.Helper()
	recs := make([]sagastore.Record, n)
	for i := range recs {
		recs[i] = newRecord(time.Now().Add(time.Hour))
		mustCreate(t, ctx, s, &recs[i])
	}
	return recs
}

func ids(recs []sagastore.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// pages reads state's finished index from cursor in pages of size, up to
// the end, and returns the ids in listing order.
func pages(t *testing.T, ctx context.Context, s sagastore.Store, state sagastore.State, cursor string, size int) ([]string, string) {
	t.Helper()
	return pagesWith(t, ctx, s, state, cursor, size, func() {})
}

// pagesWith is pages calling between after each page.
func pagesWith(t *testing.T, ctx context.Context, s sagastore.Store, state sagastore.State, cursor string, size int, between func()) ([]string, string) {
	t.Helper()
	var out []string
	for range 10_000 {
		p, err := s.ListFinished(ctx, state, cursor, size)
		if err != nil {
			t.Fatalf("ListFinished(%s, %q, %d): %v", state, cursor, size, err)
		}
		if len(p.Records) > size {
			t.Fatalf("ListFinished returned %d records, limit %d", len(p.Records), size)
		}
		for _, r := range p.Records {
			if r.State != state || r.Version == 0 {
				t.Fatalf("ListFinished(%s) returned %s in state %s, version %d", state, r.ID, r.State, r.Version)
			}
		}
		out = append(out, ids(p.Records)...)
		between()
		if !p.More {
			return out, p.Next
		}
		if p.Next == cursor {
			t.Fatalf("ListFinished: More with a cursor that did not advance (%q)", cursor)
		}
		cursor = p.Next
	}
	t.Fatal("ListFinished: no end after 10000 pages")
	return nil, ""
}

// ListFinished: the finished index of each final state holds exactly the
// sagas in that state, in the order they finished, and every page size
// reads the same sequence; sagas that left the state, active and Stuck
// ones are not listed; cursors of another kind are refused.
func ListFinished(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	recs := running(t, ctx, s, 8)
	stuck := newRecord(time.Now().Add(time.Hour))
	stuck.State = sagastore.StateStuck
	mustCreate(t, ctx, s, &stuck)
	var completed, compensated []string
	for i := range 6 { // recs[6], recs[7] stay running
		if i%3 == 2 {
			finish(t, ctx, s, &recs[i], sagastore.StateCompensated)
			compensated = append(compensated, recs[i].ID)
			continue
		}
		finish(t, ctx, s, &recs[i], sagastore.StateCompleted)
		completed = append(completed, recs[i].ID)
	}
	// An operator note on a finished saga leaves its entry where it is.
	recs[0].Error = "noted"
	if _, err := s.Update(ctx, recs[0]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		state sagastore.State
		ids   []string
	}{{sagastore.StateCompleted, completed}, {sagastore.StateCompensated, compensated}} {
		for _, size := range []int{1, 2, 3, 100} {
			got, _ := pages(t, ctx, s, want.state, "", size)
			if !slices.Equal(got, want.ids) {
				t.Fatalf("ListFinished(%s) in pages of %d = %v, want %v (in finish order)", want.state, size, got, want.ids)
			}
		}
		got, err := s.List(ctx, want.state, 0)
		if err != nil || !slices.Equal(ids(got), want.ids) {
			t.Fatalf("List(%s) = %v, %v; want %v", want.state, ids(got), err, want.ids)
		}
		if got, err := s.List(ctx, want.state, 1); err != nil || !slices.Equal(ids(got), want.ids[:1]) {
			t.Fatalf("List(%s, 1) = %v, %v; want %v", want.state, ids(got), err, want.ids[:1])
		}
	}
	// A saga that leaves its final state (an operator's repair) is no
	// longer listed there.
	cur, err := s.Get(ctx, completed[1])
	if err != nil {
		t.Fatal(err)
	}
	cur.State = sagastore.StateStuck
	if _, err := s.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if got, _ := pages(t, ctx, s, sagastore.StateCompleted, "", 1); !slices.Equal(got, slices.Delete(slices.Clone(completed), 1, 2)) {
		t.Fatalf("ListFinished(completed) after one left = %v, want %v without %s", got, completed, completed[1])
	}
	for _, bad := range []struct {
		state  sagastore.State
		cursor string
	}{{sagastore.StateRunning, ""}, {sagastore.StateStuck, ""}, {sagastore.StateCompleted, "not a cursor"}} {
		if _, err := s.ListFinished(ctx, bad.state, bad.cursor, 1); !errors.Is(err, sagastore.ErrBadCursor) {
			t.Fatalf("ListFinished(%s, %q): %v, want ErrBadCursor", bad.state, bad.cursor, err)
		}
	}
}

// ListFinishedPaging: while sagas keep finishing (a batch, concurrently,
// between any two pages), paging from the start to the end lists every
// saga finished before the first page exactly once, first and in finish
// order, and nothing twice; a caller that keeps the last cursor then
// reads sagas that finished since, again none twice.
func ListFinishedPaging(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	const before, during, batch = 40, 40, 4
	recs := running(t, ctx, s, before+during)
	for i := range before {
		finish(t, ctx, s, &recs[i], sagastore.StateCompleted)
	}
	next := before
	finishBatch := func() {
		var wg sync.WaitGroup
		for end := min(next+batch, len(recs)); next < end; next++ {
			rec := recs[next]
			rec.State, rec.UpdatedAt = sagastore.StateCompleted, time.Now().UTC()
			wg.Go(func() {
				if _, err := s.Update(ctx, rec); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	listed, cursor := pagesWith(t, ctx, s, sagastore.StateCompleted, "", 7, finishBatch)
	if t.Failed() {
		t.FailNow()
	}
	for next < len(recs) {
		finishBatch()
	}
	rest, _ := pages(t, ctx, s, sagastore.StateCompleted, cursor, 7)
	seen := map[string]int{}
	for _, id := range append(slices.Clone(listed), rest...) {
		seen[id]++
	}
	finished := map[string]bool{}
	for _, r := range recs {
		finished[r.ID] = true
	}
	for id, n := range seen {
		if n > 1 || !finished[id] {
			t.Fatalf("listed %s %d times (a saga of this test: %v)", id, n, finished[id])
		}
	}
	if len(listed) < before || !slices.Equal(listed[:before], ids(recs[:before])) {
		t.Fatalf("pages begin %v, want the sagas finished before paging, in finish order %v", listed[:min(before, len(listed))], ids(recs[:before]))
	}
	// Every batch finished before a page was read: they are all listed.
	if len(seen) != len(recs) {
		t.Fatalf("listed %d of the %d sagas", len(seen), len(recs))
	}
	t.Logf("listed %d in the first pass, %d after it", len(listed), len(rest))
}

// ListFinishedIndexed: listing a final state reads its own index: the work
// it does does not grow with the number of sagas in other states (here
// 2000 running ones added between two listings of 5 completed sagas).
func ListFinishedIndexed(t *testing.T, h Harness) {
	if h.Work == nil {
		t.Skip("the store offers no work counter (Features.Work is nil)")
	}
	ctx, s := ctxT(t), h.New(t)
	// A store migrates its finished index once, on its first listing
	// (reading every record): done here, on the empty store.
	if _, err := s.ListFinished(ctx, sagastore.StateCompleted, "", 10); err != nil {
		t.Fatal(err)
	}
	done := running(t, ctx, s, 5)
	for i := range done {
		finish(t, ctx, s, &done[i], sagastore.StateCompleted)
	}
	list := func() int64 {
		t.Helper()
		w0 := h.Work(s)
		got, err := s.List(ctx, sagastore.StateCompleted, 0)
		if err != nil || !slices.Equal(slices.Sorted(slices.Values(ids(got))), slices.Sorted(slices.Values(ids(done)))) {
			t.Fatalf("List(completed) = %v, %v; want %v", ids(got), err, ids(done))
		}
		if got, err := s.List(ctx, sagastore.StateCompensated, 0); err != nil || len(got) != 0 {
			t.Fatalf("List(compensated) = %v, %v; want none", ids(got), err)
		}
		return h.Work(s) - w0
	}
	small := list()
	const others = 2000
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < others; i += 16 {
				rec := newRecord(time.Now().Add(time.Hour))
				if i%2 == 0 {
					rec.State = sagastore.StateStuck
				}
				if _, err := s.Create(ctx, rec); err != nil {
					errs <- fmt.Errorf("create %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	large := list()
	if large > small+10 {
		t.Fatalf("listing 5 completed sagas did %d units of work with %d sagas in other states, %d without: it reads records of other states", large, others, small)
	}
	t.Logf("work of a listing: %d with no other sagas, %d with %d", small, large, others)
}

// FinishedRetention: a saga finished longer ago than the retention is no
// longer listed; one finished since is.
func FinishedRetention(t *testing.T, h Harness) {
	if h.NewWithRetention == nil {
		t.Skip("the store cannot be given a retention (Features.NewWithRetention is nil)")
	}
	const retention = 2 * time.Second
	ctx, s := ctxT(t), h.NewWithRetention(t, retention)
	recs := running(t, ctx, s, 2)
	start := time.Now()
	finish(t, ctx, s, &recs[0], sagastore.StateCompleted)
	got, err := s.List(ctx, sagastore.StateCompleted, 0)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < retention && !slices.Equal(ids(got), ids(recs[:1])) {
		t.Fatalf("List(completed) right after finishing = %v, want %v", ids(got), ids(recs[:1]))
	}
	for {
		got, err := s.List(ctx, sagastore.StateCompleted, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		if time.Since(start) > retention+10*time.Second {
			t.Fatalf("List(completed) %v after the %v retention still lists %v", time.Since(start), retention, ids(got))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if time.Since(start) < retention {
		t.Fatalf("the saga was dropped after %v, before the %v retention", time.Since(start), retention)
	}
	finish(t, ctx, s, &recs[1], sagastore.StateCompleted)
	if got, err := s.List(ctx, sagastore.StateCompleted, 0); err != nil || !slices.Equal(ids(got), ids(recs[1:])) {
		t.Fatalf("List(completed) = %v, %v; want only the saga finished since, %v", ids(got), err, ids(recs[1:]))
	}
	if _, err := s.Get(ctx, recs[0].ID); err != nil {
		t.Fatalf("the record of a saga past the index's retention: %v (records are kept)", err)
	}
}
