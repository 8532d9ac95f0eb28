package console

import (
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// timeline is a saga's history laid out for the SVG picture: a lane per
// step with its action bar above and its compensation bar below, the
// owners (lease holders) in a band under the lanes, and a time axis.
// Geometry is computed here so the template only places what it is given.
type timeline struct {
	Width, Height float64
	Lanes         []tlLane
	Bars          []tlBar
	Marks         []tlMark
	Owners        []tlBar
	OwnersY       float64
	AxisY         float64
	Ticks         []tlTick
	Span          string // the whole saga's duration
}

type tlLane struct {
	Y, TextY float64
	Name     string
	Attempts string
	Odd      bool
}

type tlBar struct {
	X, Y, W, H   float64
	Class, Title string
	Label        string
	LabelX       float64
	LabelY       float64
	LabelEnd     bool // the label ends at LabelX (it sits left of the bar)
}

type tlMark struct {
	X, Y         float64
	Class, Title string
}

type tlTick struct {
	X     float64
	Label string
}

// Layout constants (px).
const (
	tlWidth  = 960.0
	tlLabel  = 180.0 // step names
	tlRight  = 24.0
	tlTop    = 8.0
	tlLaneH  = 40.0
	tlBarH   = 13.0
	tlOwners = 22.0
	tlAxis   = 26.0
	tlMinBar = 3.0
)

// segment is one stretch of work on a step, before layout.
type segment struct {
	step     int
	undo     bool
	from, to time.Time
	result   string // ok, failed, stuck, open, abandoned
}

// drawTimeline lays rec out; now ends what is still going on.
func drawTimeline(rec saga.Record, shape saga.Shape, now time.Time) *timeline {
	n := max(len(rec.Steps), 1)
	// Only an active saga goes on: a stuck or finished one ends at its
	// last write.
	t0, t1 := rec.CreatedAt, rec.UpdatedAt
	if rec.State.Active() {
		t1 = now
	}
	for _, ev := range rec.History {
		if ev.At.After(t1) {
			t1 = ev.At
		}
	}
	span := t1.Sub(t0)
	if span < time.Millisecond {
		span = time.Millisecond
	}
	plot := tlWidth - tlLabel - tlRight
	x := func(t time.Time) float64 {
		f := float64(t.Sub(t0)) / float64(span)
		return tlLabel + min(max(f, 0), 1)*plot
	}
	tl := &timeline{Width: tlWidth, Span: human(t1.Sub(t0))}
	laneY := func(i int) float64 { return tlTop + float64(i)*tlLaneH }
	for i := range n {
		ln := tlLane{Y: laneY(i), TextY: laneY(i) + tlLaneH/2 + 4, Name: fmt.Sprintf("%d. %s", i+1, stepName(shape, i)), Odd: i%2 == 1}
		if i < len(rec.Steps) {
			st := rec.Steps[i]
			if st.Attempts > 0 {
				ln.Attempts = fmt.Sprintf("×%d", st.Attempts)
			}
		}
		tl.Lanes = append(tl.Lanes, ln)
	}
	for _, s := range segments(rec) {
		if s.step < 0 || s.step >= n {
			continue
		}
		b := tlBar{X: x(s.from), Y: laneY(s.step) + 5, H: tlBarH, Label: human(s.to.Sub(s.from))}
		b.W = max(x(s.to)-b.X, tlMinBar)
		kind := "action"
		if s.undo {
			kind, b.Y = "undo", b.Y+tlBarH+3
		}
		b.Class = kind + " " + s.result
		b.Title = fmt.Sprintf("%s of %s: %s, %s (%s → %s)", map[bool]string{false: "action", true: "compensation"}[s.undo],
			stepName(shape, s.step), s.result, b.Label, s.from.Local().Format("15:04:05.000"), s.to.Local().Format("15:04:05.000"))
		b.LabelX, b.LabelY = b.X+b.W+4, b.Y+tlBarH-2
		if b.LabelX > tlWidth-40 { // no room on the right: left of the bar
			b.LabelX, b.LabelEnd = b.X-4, true
		}
		tl.Bars = append(tl.Bars, b)
	}
	for _, ev := range rec.History {
		m := tlMark{X: x(ev.At), Y: laneY(min(max(ev.Step, 0), n-1)) + tlLaneH/2}
		switch ev.What {
		case sagastore.EventClaimed:
			m.Class, m.Title = "claimed", fmt.Sprintf("claimed by %s (epoch %d)", ev.Owner, ev.Epoch)
		case sagastore.EventReleased:
			m.Class, m.Title = "released", fmt.Sprintf("released by %s (epoch %d)", ev.Owner, ev.Epoch)
		case sagastore.EventRetried:
			m.Class, m.Title = "operator", fmt.Sprintf("retried by an operator on %s (epoch %d)", ev.Owner, ev.Epoch)
		case sagastore.EventForcedCompensation:
			m.Class, m.Title = "operator", fmt.Sprintf("compensation forced by an operator on %s (epoch %d)", ev.Owner, ev.Epoch)
		default:
			continue
		}
		m.Title += " at " + ev.At.Local().Format("15:04:05.000")
		tl.Marks = append(tl.Marks, m)
	}
	tl.OwnersY = laneY(n) + 6
	for _, o := range owners(rec, t1) {
		b := tlBar{X: x(o.from), Y: tl.OwnersY, H: tlOwners - 8, Class: fmt.Sprintf("owner o%d", o.color),
			Title: fmt.Sprintf("owner %s, epoch %d, %s", o.owner, o.epoch, human(o.to.Sub(o.from)))}
		b.W = max(x(o.to)-b.X, tlMinBar)
		if b.W > 90 {
			b.Label, b.LabelX, b.LabelY = fmt.Sprintf("%s · e%d", shortID(o.owner), o.epoch), b.X+5, b.Y+tlOwners-12
		}
		tl.Owners = append(tl.Owners, b)
	}
	tl.AxisY = tl.OwnersY + tlOwners + 2
	for i := range 5 {
		f := float64(i) / 4
		tl.Ticks = append(tl.Ticks, tlTick{X: tlLabel + f*plot, Label: "+" + human(time.Duration(f*float64(span)))})
	}
	tl.Height = tl.AxisY + tlAxis
	return tl
}

func shortID(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// segments reads the stretches of work out of rec's history: an action
// runs from its step's started event to succeeded or failed; a
// compensation from its step's compensating event (or an operator's retry
// or force) to compensated or stuck. Whatever is still open ends at the
// last moment of the picture.
func segments(rec saga.Record) []segment {
	var out []segment
	type open struct {
		at time.Time
		ok bool
	}
	act, undo := map[int]open{}, map[int]open{}
	closeAct := func(i int, at time.Time, result string) {
		if o := act[i]; o.ok {
			out = append(out, segment{step: i, from: o.at, to: at, result: result})
			delete(act, i)
		}
	}
	closeUndo := func(i int, at time.Time, result string) {
		if o := undo[i]; o.ok {
			out = append(out, segment{step: i, undo: true, from: o.at, to: at, result: result})
			delete(undo, i)
		}
	}
	for _, ev := range rec.History {
		i := ev.Step
		switch ev.What {
		case sagastore.EventStarted:
			act[i] = open{ev.At, true}
		case sagastore.EventSucceeded:
			closeAct(i, ev.At, "ok")
		case sagastore.EventFailed:
			closeAct(i, ev.At, "failed")
		case sagastore.EventCompensating:
			closeAct(i, ev.At, "abandoned") // forced while its action ran
			if _, going := undo[i]; !going && ev.Epoch != 0 {
				undo[i] = open{ev.At, true}
			}
		case sagastore.EventRetried, sagastore.EventForcedCompensation:
			closeAct(i, ev.At, "abandoned")
			if rec.Steps != nil && i < len(rec.Steps) && rec.Steps[i].Status != sagastore.StepPending {
				undo[i] = open{ev.At, true}
			}
		case sagastore.EventCompensated:
			closeUndo(i, ev.At, "ok")
		case sagastore.EventStuck:
			closeUndo(i, ev.At, "stuck")
		}
	}
	end := rec.UpdatedAt
	if rec.State.Active() {
		end = time.Now()
	}
	for i, o := range act {
		if o.at.After(end) {
			end = o.at
		}
		out = append(out, segment{step: i, from: o.at, to: end, result: "open"})
	}
	for i, o := range undo {
		to := end
		if o.at.After(to) {
			to = o.at
		}
		out = append(out, segment{step: i, undo: true, from: o.at, to: to, result: "open"})
	}
	return out
}

type ownerSpan struct {
	owner    string
	epoch    uint64
	color    int
	from, to time.Time
}

// owners reads who held the lease when: the creator from the start, each
// claim, retry or force hands it to the event's owner, a release ends it.
func owners(rec saga.Record, end time.Time) []ownerSpan {
	var out []ownerSpan
	colors := map[string]int{}
	var cur *ownerSpan
	stop := func(at time.Time) {
		if cur != nil {
			cur.to = at
			out = append(out, *cur)
			cur = nil
		}
	}
	for _, ev := range rec.History {
		switch ev.What {
		case sagastore.EventCreated, sagastore.EventClaimed, sagastore.EventRetried, sagastore.EventForcedCompensation:
			if ev.Owner == "" {
				continue
			}
			stop(ev.At)
			c, seen := colors[ev.Owner]
			if !seen {
				c = len(colors) % 6
				colors[ev.Owner] = c
			}
			cur = &ownerSpan{owner: ev.Owner, epoch: ev.Epoch, color: c, from: ev.At}
		case sagastore.EventReleased:
			stop(ev.At)
		}
	}
	stop(end)
	return out
}
