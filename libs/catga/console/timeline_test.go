package console

import (
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// TestSegments: the stretches of work read out of a history, through
// failure, a stuck compensation, an operator's retry and a claim.
func TestSegments(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(ms, step int, what sagastore.EventKind, epoch uint64, owner string) sagastore.Event {
		return sagastore.Event{At: at(ms), Step: step, What: what, Epoch: epoch, Owner: owner}
	}
	rec := saga.Record{ID: "s", State: sagastore.StateCompensated, CreatedAt: t0, UpdatedAt: at(900),
		Steps: []sagastore.StepState{{Status: sagastore.StepCompensated}, {Status: sagastore.StepFailed}},
		History: []sagastore.Event{
			ev(0, 0, sagastore.EventCreated, 1, "A"),
			ev(0, 0, sagastore.EventStarted, 1, ""),
			ev(100, 0, sagastore.EventSucceeded, 1, ""),
			ev(100, 1, sagastore.EventStarted, 1, ""),
			ev(150, 1, sagastore.EventClaimed, 2, "B"), // A died mid-action
			ev(300, 1, sagastore.EventFailed, 2, ""),
			ev(300, 1, sagastore.EventCompensating, 0, ""), // the saga turns: no step's work
			ev(300, 0, sagastore.EventCompensating, 2, ""),
			ev(400, 0, sagastore.EventStuck, 2, ""),
			ev(800, 0, sagastore.EventRetried, 3, "C"),
			ev(900, 0, sagastore.EventCompensated, 3, ""),
		}}
	got := segments(rec)
	want := []segment{
		{step: 0, from: at(0), to: at(100), result: "ok"},
		{step: 1, from: at(100), to: at(300), result: "failed"},
		{step: 0, undo: true, from: at(300), to: at(400), result: "stuck"},
		{step: 0, undo: true, from: at(800), to: at(900), result: "ok"},
	}
	if len(got) != len(want) {
		t.Fatalf("segments = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.step != w.step || g.undo != w.undo || !g.from.Equal(w.from) || !g.to.Equal(w.to) || g.result != w.result {
			t.Errorf("segment %d = %+v, want %+v", i, g, w)
		}
	}

	os := owners(rec, at(900))
	wantOwners := []struct {
		owner    string
		epoch    uint64
		from, to int
	}{{"A", 1, 0, 150}, {"B", 2, 150, 800}, {"C", 3, 800, 900}}
	if len(os) != len(wantOwners) {
		t.Fatalf("owners = %+v", os)
	}
	for i, w := range wantOwners {
		if o := os[i]; o.owner != w.owner || o.epoch != w.epoch || !o.from.Equal(at(w.from)) || !o.to.Equal(at(w.to)) {
			t.Errorf("owner %d = %+v, want %+v", i, o, w)
		}
	}

	tl := drawTimeline(rec, saga.Shape{Name: "x", Steps: []saga.StepShape{{Name: "charge"}, {Name: "ship"}}}, at(5000))
	if len(tl.Bars) != 4 || len(tl.Owners) != 3 || len(tl.Marks) != 2 {
		t.Fatalf("timeline has %d bars, %d owner spans, %d marks", len(tl.Bars), len(tl.Owners), len(tl.Marks))
	}
	last := tl.Bars[3] // ends at the saga's last write: the right edge
	if end := last.X + last.W; end < tlWidth-tlRight-0.5 || end > tlWidth-tlRight+0.5 {
		t.Errorf("the last bar ends at x=%.1f, want the right edge %.1f", end, tlWidth-tlRight)
	}
}
