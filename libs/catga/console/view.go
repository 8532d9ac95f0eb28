package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// page is what every template gets.
type page struct {
	Prefix, Service, Title string
	ReadOnly               bool
	Error, Flash           string
	Live                   string // the live stream of the page's region; empty: none
	Overview               *overviewView
	Detail                 *detailView
	Confirm                *confirmView
}

// states in the order the console shows them: what needs an operator
// first.
var states = []saga.State{sagastore.StateStuck, sagastore.StateRunning, sagastore.StateCompensating,
	sagastore.StateCompleted, sagastore.StateCompensated}

type stateCount struct {
	State    saga.State
	N        int
	More     bool // N is CountCap and there are more
	Selected bool
}

type overviewView struct {
	Counts []stateCount
	State  saga.State
	Sagas  []sagaRow
	After  string // the cursor this page of a final state starts at
	Next   string // the next page's cursor; empty: none
	Time   time.Time
}

// sagaRow is one saga in a listing (and the head of its page).
type sagaRow struct {
	ID, Name   string
	State      saga.State
	Step       string // the current step's name ("2/3 reserve")
	Owner      string
	Epoch      uint64
	LeaseUntil time.Time
	Created    time.Time
	Updated    time.Time
	Took       time.Duration // created to last update (to now while active)
	Error      string
}

type stepRow struct {
	Index       int
	Name        string
	Status      string
	Attempts    int
	Compensable bool
	UndoRounds  int
	Error       string
	Code        string
	Current     bool
}

type eventRow struct {
	At         time.Time
	Offset     time.Duration
	Step, What string
	Epoch      uint64
	Owner      string
	Error      string
}

type actionView struct{ Name, Verb, Hint string }

type detailView struct {
	Saga     sagaRow
	Steps    []stepRow
	History  []eventRow
	Timeline *timeline
	Data     string
	Actions  []actionView
}

type confirmView struct {
	Action, Verb string
	Saga         sagaRow
	Allowed      bool
}

// counts are the figures of every state, taken at At.
type counts struct {
	At     time.Time
	States []stateCount
	Err    error
}

// countsEvery is how many refresh intervals the counts are kept: each
// count may read up to CountCap records.
const countsEvery = 3

// figures returns the counts of every state, recomputed at most once per
// countsEvery refresh intervals whatever the number of open pages (and
// after an operator's action).
func (c *Console) figures(ctx context.Context) ([]stateCount, error) {
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	if time.Since(c.counts.At) < countsEvery*c.refresh && c.counts.States != nil {
		return c.counts.States, c.counts.Err
	}
	out := make([]stateCount, 0, len(states))
	var err error
	for _, s := range states {
		var n int
		var more bool
		n, more, err = c.count(ctx, s)
		if err != nil {
			break
		}
		out = append(out, stateCount{State: s, N: n, More: more})
	}
	if err != nil {
		out = nil
	}
	c.counts = counts{At: time.Now(), States: out, Err: err}
	return out, err
}

// invalidate makes the next page count afresh (an action changed them).
func (c *Console) invalidate() {
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	c.counts = counts{}
}

// count counts the sagas in s up to CountCap, page by page through the
// state's index: at most CountCap records are read, however many there are.
func (c *Console) count(ctx context.Context, s saga.State) (int, bool, error) {
	n, cursor := 0, ""
	for n < CountCap {
		p, err := c.ops.ListPage(ctx, s, cursor, min(sagastore.DefaultPageSize, CountCap-n))
		if err != nil {
			return 0, false, err
		}
		n += len(p.Records)
		if !p.More {
			return n, false, nil
		}
		cursor = p.Next
	}
	return n, true, nil
}

func (c *Console) shapes() map[string]saga.Shape {
	m := map[string]saga.Shape{}
	for _, s := range c.ops.Shapes() {
		m[s.Name] = s
	}
	return m
}

func parseState(v string) (saga.State, bool) {
	if v == "" {
		return sagastore.StateStuck, true
	}
	for _, s := range states {
		if string(s) == v {
			return s, true
		}
	}
	return "", false
}

// overviewPage builds the listing of one state from q (state, after).
func (c *Console) overviewPage(ctx context.Context, q url.Values) (page, int, error) {
	state, ok := parseState(q.Get("state"))
	if !ok {
		return page{}, http.StatusBadRequest, fmt.Errorf("no state %q", q.Get("state"))
	}
	figs, err := c.figures(ctx)
	if err != nil {
		return page{}, http.StatusServiceUnavailable, err
	}
	ov := &overviewView{State: state, Time: time.Now()}
	for _, f := range figs {
		f.Selected = f.State == state
		ov.Counts = append(ov.Counts, f)
	}
	ov.After = q.Get("after")
	pg, err := c.ops.ListPage(ctx, state, ov.After, PageSize)
	if errors.Is(err, sagastore.ErrBadCursor) {
		return page{}, http.StatusBadRequest, err
	}
	if err != nil {
		return page{}, http.StatusServiceUnavailable, err
	}
	if pg.More {
		ov.Next = pg.Next
	} else if ov.After == "" {
		// The whole state is on this page: its count is exact and fresh,
		// whatever the kept figures say.
		for i := range ov.Counts {
			if ov.Counts[i].State == state {
				ov.Counts[i].N, ov.Counts[i].More = len(pg.Records), false
			}
		}
	}
	shapes := c.shapes()
	for _, r := range pg.Records {
		ov.Sagas = append(ov.Sagas, summarize(r, shapes))
	}
	lq := url.Values{"state": {string(state)}}
	if ov.After != "" {
		lq.Set("after", ov.After)
	}
	return page{Title: string(state), Overview: ov, Live: c.prefix + "/live?" + lq.Encode()}, http.StatusOK, nil
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	p, status, err := c.overviewPage(r.Context(), r.URL.Query())
	if err != nil {
		c.fail(w, r, status, err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "overview", p)
}

// detailPage builds the page of saga id.
func (c *Console) detailPage(ctx context.Context, id string) (page, error) {
	rec, err := c.ops.Get(ctx, id)
	if err != nil {
		return page{}, err
	}
	shapes := c.shapes()
	shape := shapes[rec.Name]
	d := &detailView{Saga: summarize(rec, shapes), Timeline: drawTimeline(rec, shape, time.Now())}
	for i, st := range rec.Steps {
		row := stepRow{Index: i + 1, Name: stepName(shape, i), Status: string(st.Status), Attempts: st.Attempts,
			UndoRounds: st.UndoRound, Error: st.Error, Code: st.Code,
			Current: !rec.State.Final() && i == rec.Step}
		if row.Status == "" {
			row.Status = "pending"
		}
		if i < len(shape.Steps) {
			row.Compensable = shape.Steps[i].Compensable
		}
		d.Steps = append(d.Steps, row)
	}
	for _, ev := range rec.History {
		d.History = append(d.History, eventRow{At: ev.At, Offset: ev.At.Sub(rec.CreatedAt),
			Step: stepName(shape, ev.Step), What: string(ev.What), Epoch: ev.Epoch, Owner: ev.Owner, Error: ev.Error})
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, rec.Data, "", "  ") == nil {
		d.Data = pretty.String()
	} else {
		d.Data = string(rec.Data)
	}
	if !c.readOnly {
		for _, name := range []string{"retry", "compensate"} {
			if a := actions[name]; a.allow(rec.State) {
				d.Actions = append(d.Actions, actionView{Name: name, Verb: a.verb, Hint: hints[name]})
			}
		}
	}
	return page{Title: "saga " + rec.ID, Detail: d, Live: c.prefix + "/live?" + url.Values{"saga": {rec.ID}}.Encode()}, nil
}

var hints = map[string]string{
	"retry":      "Runs the failed compensation again with fresh attempts, on this peer. Fix its cause first.",
	"compensate": "Stops the saga and undoes its completed steps, on this peer. The current owner is fenced out.",
}

func (c *Console) detail(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, err := c.detailPage(r.Context(), id)
	if err != nil {
		c.readFailed(w, r, id, err)
		return
	}
	if a, ok := actions[r.URL.Query().Get("done")]; ok {
		p.Flash = a.done
	}
	c.render(w, r, http.StatusOK, "detail", p)
}

func stepName(s saga.Shape, i int) string {
	if i >= 0 && i < len(s.Steps) && s.Steps[i].Name != "" {
		return s.Steps[i].Name
	}
	return fmt.Sprintf("step %d", i+1)
}

func summarize(rec saga.Record, shapes map[string]saga.Shape) sagaRow {
	row := sagaRow{ID: rec.ID, Name: rec.Name, State: rec.State, Owner: rec.Owner, Epoch: rec.Epoch,
		LeaseUntil: rec.LeaseUntil, Created: rec.CreatedAt, Updated: rec.UpdatedAt, Error: rec.Error}
	if len(rec.Steps) > 0 {
		row.Step = fmt.Sprintf("%d/%d %s", rec.Step+1, len(rec.Steps), stepName(shapes[rec.Name], rec.Step))
	}
	end := rec.UpdatedAt
	if rec.State.Active() {
		end = time.Now()
	}
	row.Took = end.Sub(rec.CreatedAt)
	return row
}

func urlPath(id string) string { return url.PathEscape(id) }

var funcs = template.FuncMap{
	"countcap": func() int { return CountCap },
	"dur":      human,
	"clock":    func(t time.Time) string { return t.Local().Format("15:04:05.000") },
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"short": func(s string) string {
		if len(s) > 8 {
			return s[:8]
		}
		return s
	},
	"path": urlPath,
	"until": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		if d := time.Until(t); d > 0 {
			return "in " + human(d)
		}
		return human(time.Since(t)) + " ago"
	},
	"lower": func(s saga.State) string { return strings.ToLower(string(s)) },
}

// human formats d for people: 850ms, 2.4s, 3m05s, 2h10m.
func human(d time.Duration) string {
	switch {
	case d < 0:
		return "0ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours())/24)
	}
}
