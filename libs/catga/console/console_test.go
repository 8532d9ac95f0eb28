package console_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/console"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
)

type order struct{ Amount int }

// platform is an engine over a store with one saga definition whose
// compensation of "charge" fails permanently until fixed: a saga that is
// declined at "ship" gets Stuck, as it would for an operator.
type platform struct {
	engine *saga.Engine
	sagas  *saga.Saga[order]
	broken atomic.Bool
	srv    *httptest.Server
}

func newPlatform(t *testing.T, opts ...console.Option) *platform {
	t.Helper()
	p := &platform{engine: saga.New(memory.New(), saga.WithRecoveryInterval(50*time.Millisecond))}
	p.broken.Store(true)
	var err error
	p.sagas, err = saga.Register(p.engine, saga.Definition[order]{Name: "order", Steps: []saga.Step[order]{
		{Name: "charge", Action: func(context.Context, *order) error { return nil },
			Compensate: func(context.Context, *order) error {
				if p.broken.Load() {
					return catga.Permanent(errors.New("refund: account closed"))
				}
				return nil
			}},
		{Name: "ship", Action: func(_ context.Context, o *order) error {
			if o.Amount > 100 {
				return catga.Reject("too_big", "cannot ship %d", o.Amount)
			}
			return nil
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.engine.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.engine.Close(context.Background()) })
	c := console.New(p.engine, append([]console.Option{console.WithTitle("order"), console.WithRefresh(20 * time.Millisecond)}, opts...)...)
	mux := http.NewServeMux()
	mux.Handle(c.Prefix()+"/", c)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// run runs a saga to its end.
func (p *platform) run(t *testing.T, id string, amount int) saga.Record {
	t.Helper()
	rec, err := p.sagas.Run(t.Context(), id, order{Amount: amount})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (p *platform) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(p.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *platform) post(t *testing.T, path string, form url.Values, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, p.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *platform) state(t *testing.T, id string) saga.State {
	t.Helper()
	rec, err := p.engine.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.State
}

func mustContain(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func TestPages(t *testing.T) {
	p := newPlatform(t)
	if rec := p.run(t, "stuck-1", 500); rec.State != sagastore.StateStuck {
		t.Fatalf("saga is %s, want stuck", rec.State)
	}
	p.run(t, "done-1", 5)
	p.run(t, "done-2", 5)

	code, body := p.get(t, "/console/")
	if code != http.StatusOK {
		t.Fatalf("overview: %d %s", code, body)
	}
	mustContain(t, body, `data-state="stuck">1<`, `data-state="completed">2<`, `data-state="running">0<`,
		`href="/console/sagas/stuck-1"`, "refund: account closed", "/console/static/console.js")

	code, body = p.get(t, "/console/?state=completed")
	if code != http.StatusOK {
		t.Fatalf("completed: %d", code)
	}
	mustContain(t, body, "done-1", "done-2")
	if strings.Contains(body, "stuck-1</a>") {
		t.Error("completed listing shows the stuck saga")
	}

	code, body = p.get(t, "/console/sagas/stuck-1")
	if code != http.StatusOK {
		t.Fatalf("detail: %d", code)
	}
	mustContain(t, body, `<svg class="timeline"`, `class="bar undo stuck"`, `class="bar action ok"`, `class="bar action failed"`,
		"1. charge", "2. ship", "too_big", `data-action="retry"`, `data-action="compensate"`, `Amount&#34;: 500`)

	if code, _ := p.get(t, "/console/sagas/nope"); code != http.StatusNotFound {
		t.Errorf("unknown saga: %d, want 404", code)
	}
	if code, _ := p.get(t, "/console/?state=bogus"); code != http.StatusBadRequest {
		t.Errorf("bad state: %d, want 400", code)
	}
	if code, _ := p.get(t, "/console/static/console.css"); code != http.StatusOK {
		t.Errorf("stylesheet: %d", code)
	}
}

// TestActionGuards: only a same-origin POST that confirms the saga's id
// acts; everything else leaves the saga as it was.
func TestActionGuards(t *testing.T) {
	p := newPlatform(t)
	p.run(t, "s", 500)
	p.broken.Store(false) // the cause is fixed: any retry that got through would compensate
	confirm := url.Values{"confirm": {"s"}}
	for _, tc := range []struct {
		name   string
		method string
		form   url.Values
		header http.Header
		want   int
		body   string
	}{
		{"GET never acts", http.MethodGet, confirm, nil, http.StatusMethodNotAllowed, ""},
		{"no confirmation: the confirmation page", http.MethodPost, nil, nil, http.StatusOK, `name="confirm" value="s"`},
		{"confirmation of another saga", http.MethodPost, url.Values{"confirm": {"other"}}, nil, http.StatusOK, "Retry compensation?"},
		{"cross-site (Sec-Fetch-Site)", http.MethodPost, confirm, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden, "another site"},
		{"cross-origin (Origin)", http.MethodPost, confirm, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden, "another site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var code int
			var body string
			if tc.method == http.MethodGet {
				code, body = p.get(t, "/console/sagas/s/retry")
			} else {
				code, body = p.post(t, "/console/sagas/s/retry", tc.form, tc.header)
			}
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, body)
			}
			mustContain(t, body, tc.body)
			time.Sleep(50 * time.Millisecond) // a retry that got through would be compensating by now
			if st := p.state(t, "s"); st != sagastore.StateStuck {
				t.Fatalf("saga is %s: the action ran", st)
			}
		})
	}

	// Same-origin (as a browser sends it) and confirmed: it acts.
	code, body := p.post(t, "/console/sagas/s/retry", confirm, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {p.srv.URL}})
	if code != http.StatusSeeOther {
		t.Fatalf("confirmed retry: %d %s", code, body)
	}
	rec, err := p.engine.Await(t.Context(), "s")
	if err != nil || rec.State != sagastore.StateCompensated {
		t.Fatalf("after retry: %s %v, want compensated", rec.State, err)
	}
	// Now the state refuses it, with the reason.
	code, body = p.post(t, "/console/sagas/s/retry", confirm, nil)
	if code != http.StatusConflict {
		t.Fatalf("retry of a compensated saga: %d, want 409", code)
	}
	mustContain(t, body, "not stuck")
}

func TestForceCompensateFromConsole(t *testing.T) {
	p := newPlatform(t)
	p.run(t, "s", 500)
	p.broken.Store(false)
	if code, body := p.post(t, "/console/sagas/s/compensate", url.Values{"confirm": {"s"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("force: %d %s", code, body)
	}
	if rec, err := p.engine.Await(t.Context(), "s"); err != nil || rec.State != sagastore.StateCompensated {
		t.Fatalf("after force: %s %v", rec.State, err)
	}
	code, body := p.get(t, "/console/sagas/s?done=compensate")
	if code != http.StatusOK {
		t.Fatal(code)
	}
	mustContain(t, body, "Compensation forced", `class="mark operator"`)
}

func TestReadOnly(t *testing.T) {
	p := newPlatform(t, console.WithReadOnly())
	p.run(t, "s", 500)
	p.broken.Store(false)
	_, body := p.get(t, "/console/sagas/s")
	if strings.Contains(body, "data-action=") {
		t.Error("a read-only console shows actions")
	}
	if code, _ := p.post(t, "/console/sagas/s/retry", url.Values{"confirm": {"s"}}, nil); code != http.StatusForbidden {
		t.Fatalf("read-only retry: %d, want 403", code)
	}
	if st := p.state(t, "s"); st != sagastore.StateStuck {
		t.Fatalf("saga is %s", st)
	}
}

// TestLiveStream: the stream sends the region, then again when the saga
// changes.
func TestLiveStream(t *testing.T) {
	p := newPlatform(t)
	p.run(t, "s", 500)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.srv.URL+"/console/live?saga=s", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var data strings.Builder
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "data: "):
				data.WriteString(line[6:] + "\n")
			case line == "" && data.Len() > 0:
				events <- data.String()
				data.Reset()
			}
		}
	}()
	next := func() string {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			return ev
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return ""
	}
	if first := next(); !strings.Contains(first, `badge s-stuck`) {
		t.Fatalf("first event is not the stuck saga: %.300s", first)
	}
	p.broken.Store(false)
	if err := p.engine.Retry(t.Context(), "s"); err != nil {
		t.Fatal(err)
	}
	for {
		if ev := next(); strings.Contains(ev, `badge s-compensated`) {
			return
		}
	}
}

// TestDoneEndsStreams: a closed done channel ends the streams (a peer's
// shutdown must not wait for open pages).
func TestDoneEndsStreams(t *testing.T) {
	done := make(chan struct{})
	p := newPlatform(t, console.WithDone(done))
	resp, err := http.Get(p.srv.URL + "/console/live?state=stuck")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	close(done)
	ended := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, resp.Body); close(ended) }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after done closed")
	}
}

// TestCountsAndPages: a count stops at CountCap ("500+"); the listing
// pages through every saga of the state once.
func TestCountsAndPages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 501 sagas")
	}
	// Counts once for the whole test: each count reads up to CountCap
	// records, slow under the race detector.
	p := newPlatform(t, console.WithRefresh(time.Hour))
	for i := range console.CountCap + 1 {
		if _, err := p.sagas.Start(t.Context(), fmt.Sprintf("s%04d", i), order{Amount: 1}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		active, _ := p.engine.ListPage(t.Context(), sagastore.StateRunning, "", 1)
		if len(active.Records) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.engine.RecoverNow(t.Context()) // drops the finished sagas' due entries
	_, body := p.get(t, "/console/?state=completed")
	mustContain(t, body, `data-state="completed">500+<`)
	seen := map[string]bool{}
	path := "/console/?state=completed"
	for range 20 {
		code, body := p.get(t, path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		for _, m := range sagaLink.FindAllStringSubmatch(body, -1) {
			if seen[m[1]] {
				t.Fatalf("%s listed twice", m[1])
			}
			seen[m[1]] = true
		}
		next := nextLink.FindStringSubmatch(body)
		if next == nil {
			break
		}
		path = strings.ReplaceAll(next[1], "&amp;", "&")
	}
	if len(seen) != console.CountCap+1 {
		t.Fatalf("paging listed %d sagas, want %d", len(seen), console.CountCap+1)
	}
}

var (
	sagaLink = regexp.MustCompile(`<td class="id"><a href="/console/sagas/([^"]+)">`)
	nextLink = regexp.MustCompile(`<a href="(/console/\?state=completed&amp;after=[^"]+)">next page`)
)

// TestNothingFetchedFromElsewhere: the pages refer only to the console's
// own paths, and its stylesheet and script load nothing.
func TestNothingFetchedFromElsewhere(t *testing.T) {
	p := newPlatform(t)
	p.run(t, "s", 500)
	external := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*"(https?:)?//|@import|url\(|https?://`)
	for _, path := range []string{"/console/", "/console/sagas/s", "/console/static/console.css", "/console/static/console.js"} {
		code, body := p.get(t, path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		if m := external.FindString(body); m != "" {
			t.Errorf("%s refers elsewhere: %q", path, m)
		}
	}
}

func TestHuman(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0ms"}, {850 * time.Millisecond, "850ms"}, {2400 * time.Millisecond, "2.4s"},
		{185 * time.Second, "3m05s"}, {130 * time.Minute, "2h10m"}, {72 * time.Hour, "3d"},
	} {
		if got := console.Human(tc.d); got != tc.want {
			t.Errorf("Human(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
