package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// listPages pages through state with ListPage in pages of size, calling
// between after each page, and returns the ids in listing order.
func listPages(t *testing.T, ctx context.Context, s sagastore.Store, state sagastore.State, size int, between func()) []string {
	t.Helper()
	var out []string
	cursor := ""
	for range 10_000 {
		p, err := s.ListPage(ctx, state, cursor, size)
		if err != nil {
			t.Fatalf("ListPage(%s, %q, %d): %v", state, cursor, size, err)
		}
		if len(p.Records) > size {
			t.Fatalf("ListPage(%s) returned %d records, limit %d", state, len(p.Records), size)
		}
		for _, r := range p.Records {
			if r.State != state || r.Version == 0 {
				t.Fatalf("ListPage(%s) returned %s in state %s, version %d", state, r.ID, r.State, r.Version)
			}
		}
		out = append(out, ids(p.Records)...)
		between()
		if !p.More {
			return out
		}
		if p.Next == cursor {
			t.Fatalf("ListPage(%s): More with a cursor that did not advance (%q)", state, cursor)
		}
		cursor = p.Next
	}
	t.Fatal("ListPage: no end after 10000 pages")
	return nil
}

func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// ListPage: every state pages to exactly its sagas, whatever the page
// size; the pages of a state that is not final hold no saga of another
// state; cursors of another kind and unknown states are refused.
func ListPage(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	want := map[sagastore.State][]string{}
	for i, state := range []sagastore.State{
		sagastore.StateRunning, sagastore.StateCompensating, sagastore.StateStuck,
		sagastore.StateRunning, sagastore.StateStuck, sagastore.StateCompleted,
		sagastore.StateRunning, sagastore.StateCompensated, sagastore.StateStuck, sagastore.StateRunning, sagastore.StateCompensating,
	} {
		// Half of them are created in their state, half reach it by an
		// Update, as sagas do.
		rec := newRecord(time.Now().Add(time.Hour))
		if i%2 == 0 {
			rec.State = state
		}
		mustCreate(t, ctx, s, &rec)
		if i%2 == 1 {
			finish(t, ctx, s, &rec, state)
		}
		want[state] = append(want[state], rec.ID)
	}
	for state, ids := range want {
		for _, size := range []int{1, 2, 3, 100} {
			got := listPages(t, ctx, s, state, size, func() {})
			if !slices.Equal(sorted(got), sorted(ids)) {
				t.Fatalf("ListPage(%s) in pages of %d = %v, want %v", state, size, got, ids)
			}
		}
	}
	if _, err := s.ListPage(ctx, "bogus", "", 10); !errors.Is(err, sagastore.ErrUnknownState) {
		t.Fatalf("ListPage(bogus) = %v, want ErrUnknownState", err)
	}
	fin, err := s.ListPage(ctx, sagastore.StateCompleted, "", 10)
	if err != nil || fin.Next == "" {
		t.Fatalf("ListPage(completed) = %+v, %v", fin, err)
	}
	for _, state := range []sagastore.State{sagastore.StateRunning, sagastore.StateStuck} {
		if _, err := s.ListPage(ctx, state, fin.Next, 10); !errors.Is(err, sagastore.ErrBadCursor) {
			t.Fatalf("ListPage(%s) with a finished-index cursor %q = %v, want ErrBadCursor", state, fin.Next, err)
		}
	}
	run, err := s.ListPage(ctx, sagastore.StateRunning, "", 1)
	if err != nil || !run.More {
		t.Fatalf("ListPage(running, limit 1) = %+v, %v; want More", run, err)
	}
	if _, err := s.ListPage(ctx, sagastore.StateCompleted, run.Next, 10); !errors.Is(err, sagastore.ErrBadCursor) {
		t.Fatalf("ListPage(completed) with a running cursor %q = %v, want ErrBadCursor", run.Next, err)
	}
}

// ListPageWhileMoving: sagas that stay in a state while a caller pages
// are listed exactly once; sagas that leave it or enter it meanwhile at
// most once.
func ListPageWhileMoving(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	for _, state := range []sagastore.State{sagastore.StateRunning, sagastore.StateStuck} {
		recs := running(t, ctx, s, 9)
		if state == sagastore.StateStuck {
			for i := range recs {
				finish(t, ctx, s, &recs[i], state)
			}
		}
		stay := map[string]bool{}
		for _, r := range recs {
			stay[r.ID] = true
		}
		pages := 0
		got := listPages(t, ctx, s, state, 2, func() {
			// Between pages: one saga leaves the state, a new one enters.
			pages++
			if pages > len(recs) {
				return
			}
			leaving := &recs[len(recs)-pages]
			delete(stay, leaving.ID)
			finish(t, ctx, s, leaving, sagastore.StateCompleted)
			fresh := newRecord(time.Now().Add(time.Hour))
			fresh.State = state
			mustCreate(t, ctx, s, &fresh)
		})
		seen := map[string]int{}
		for _, id := range got {
			if seen[id]++; seen[id] > 1 {
				t.Fatalf("ListPage(%s) listed %s twice: %v", state, id, got)
			}
		}
		for id := range stay {
			if seen[id] != 1 {
				t.Fatalf("ListPage(%s) listed %s, which stayed %s throughout, %d times: %v", state, id, state, seen[id], got)
			}
		}
		// Finish what is left so the next state's listing starts clean.
		for i := range recs {
			if stay[recs[i].ID] {
				finish(t, ctx, s, &recs[i], sagastore.StateCompensated)
			}
		}
	}
}
