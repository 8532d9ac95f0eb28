package cli_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/cmd/catga/internal/cli"
	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/transport"
)

// TestPeers: every running peer of every service is listed once, with
// its id, version, HTTP address, uptime and the requests it handled.
func TestPeers(t *testing.T) {
	pl := startPlatform(t, nil)
	for i := range 3 {
		if _, err := transport.Request(t.Context(), pl.order.Transport, pingRoute, ping{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	peers := decode[[]cli.Peer](t, pl.must(t, cli.ExitOK, "", "peers", "--json"))
	want := map[string]string{"order": pl.order.Transport.ID(), "payment": pl.pay.Transport.ID()}
	if len(peers) != 2 {
		t.Fatalf("peers: %+v, want order and payment", peers)
	}
	for _, p := range peers {
		if p.ID != want[p.Service] || p.Version != "1.2.3" || p.HTTP == "" || p.Started.IsZero() {
			t.Fatalf("peer %+v: want id %s at 1.2.3 with its HTTP address and start time", p, want[p.Service])
		}
		if p.Service == "payment" && (p.Requests != 3 || !slices.Contains(p.Endpoints, pingRoute.Subject())) {
			t.Fatalf("payment peer %+v: want 3 requests on %s", p, pingRoute.Subject())
		}
	}
	if p := pl.pay.Addr().String(); peers[1].HTTP != p {
		t.Fatalf("payment's HTTP address %q, want %q", peers[1].HTTP, p)
	}
	table := pl.must(t, cli.ExitOK, "", "peers", "payment").stdout
	if !strings.Contains(table, "SERVICE") || !strings.Contains(table, pl.pay.Transport.ID()) || strings.Contains(table, pl.order.Transport.ID()) ||
		!strings.Contains(table, "1 peer(s)") {
		t.Fatalf("peers payment table:\n%s", table)
	}
	pl.must(t, cli.ExitRefused, "", "peers", "shipping")
}

// TestSagas runs the saga commands over each store the peers may use.
func TestSagas(t *testing.T) {
	for _, tc := range []struct {
		name  string
		redis func(t *testing.T) []string
	}{
		{"natskv", func(*testing.T) []string { return nil }},
		{"redis", func(t *testing.T) []string { return []string{redistest.Start(t).Options().Addr} }},
	} {
		t.Run(tc.name, func(t *testing.T) { testSagas(t, startPlatform(t, tc.redis(t))) })
	}
}

func testSagas(t *testing.T, pl *platform) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	start := func(mode string) string {
		id, err := pl.sagas.Start(ctx, "", job{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// A stuck saga: step 2 refused, step 1's compensation failing.
	stuck := start("reject")
	if rec, err := pl.order.Sagas.Await(ctx, stuck); err != nil || rec.State != sagastore.StateStuck {
		t.Fatalf("saga %s: %s, %v; want stuck", stuck, rec.State, err)
	}
	var done []string
	for range 5 {
		id := start("")
		if rec, err := pl.order.Sagas.Await(ctx, id); err != nil || rec.State != sagastore.StateCompleted {
			t.Fatalf("saga %s: %s, %v", id, rec.State, err)
		}
		done = append(done, id)
	}

	// list: the stuck one, by default; completed ones page by page.
	page := decode[cli.SagaPage](t, pl.must(t, cli.ExitOK, "", "sagas", "list", "--json"))
	if page.State != "stuck" || len(page.Sagas) != 1 || page.Sagas[0].ID != stuck || page.More {
		t.Fatalf("sagas list (stuck): %+v", page)
	}
	var listed []string
	cursor := ""
	for i := 0; ; i++ {
		args := []string{"sagas", "list", "--state", "completed", "--limit", "2", "--json"}
		if cursor != "" {
			args = append(args, "--cursor", cursor)
		}
		p := decode[cli.SagaPage](t, pl.must(t, cli.ExitOK, "", args...))
		if len(p.Sagas) > 2 || i > 5 {
			t.Fatalf("page %d: %+v", i, p)
		}
		for _, s := range p.Sagas {
			listed = append(listed, s.ID)
		}
		if !p.More {
			break
		}
		cursor = p.Next
	}
	slices.Sort(listed)
	slices.Sort(done)
	if !slices.Equal(listed, done) {
		t.Fatalf("completed sagas paged: %v, want %v", listed, done)
	}
	if r := pl.must(t, cli.ExitOK, "", "sagas", "list", "--state", "completed", "--name", "other"); !strings.Contains(r.stdout, "0 completed saga(s)") {
		t.Fatalf("--name other listed:\n%s", r.stdout)
	}
	human := pl.must(t, cli.ExitOK, "", "sagas", "list", "--state", "completed", "--limit", "2").stdout
	if !strings.Contains(human, "2 completed saga(s); next page: catga sagas list --state completed --limit 2 --cursor ") {
		t.Fatalf("list table without the next page's command:\n%s", human)
	}

	// show: data, steps, attempts, errors, owner, epoch, lease.
	v := decode[cli.SagaView](t, pl.must(t, cli.ExitOK, "", "sagas", "show", stuck, "--json"))
	if v.State != "stuck" || v.Owner != pl.order.Transport.ID() || v.Epoch == 0 || len(v.StepList) != 2 ||
		v.StepList[1].Code != "declined" || v.StepList[0].Attempts == 0 || !strings.Contains(v.StepList[0].Error, "warehouse unreachable") ||
		compact(v.Data) != `{"N":0,"Mode":"reject"}` || len(v.History) == 0 {
		t.Fatalf("sagas show: %+v", v)
	}
	if r := pl.must(t, cli.ExitOK, "", "sagas", "show", stuck); !strings.Contains(r.stdout, "stuck at step 1 of 2") || !strings.Contains(r.stdout, "warehouse unreachable") {
		t.Fatalf("sagas show table:\n%s", r.stdout)
	}

	// Refusals: exit code 3, nothing written.
	before := v.Epoch
	if r := pl.must(t, cli.ExitRefused, "n\n", "sagas", "retry", stuck); !strings.Contains(r.stderr, "Retry its compensation? [y/N]") || !strings.Contains(r.stderr, "not confirmed") {
		t.Fatalf("declined retry: %+v", r)
	}
	if r := pl.must(t, cli.ExitRefused, "y\n", "sagas", "retry", done[0]); !strings.Contains(r.stderr, "is completed; retry applies to stuck sagas only") {
		t.Fatalf("retry of a completed saga: %+v", r)
	}
	pl.must(t, cli.ExitRefused, "", "sagas", "compensate", done[0], "--yes")
	pl.must(t, cli.ExitRefused, "", "sagas", "show", "no-such-saga")
	if v := decode[cli.SagaView](t, pl.must(t, cli.ExitOK, "", "sagas", "show", stuck, "--json")); v.Epoch != before || v.State != "stuck" {
		t.Fatalf("a refused retry changed the saga: %+v", v)
	}

	// Retry after the fix, confirmed at the prompt: compensated.
	pl.broken.Store(false)
	res := decode[cli.ActResult](t, pl.must(t, cli.ExitOK, "yes\n", "sagas", "retry", stuck, "--wait", "20s", "--json"))
	if res.Outcome != "compensated" || res.Saga.Epoch <= before {
		t.Fatalf("retry: %+v", res)
	}
	if rec, _ := pl.order.Sagas.Get(ctx, stuck); rec.State != sagastore.StateCompensated {
		t.Fatalf("after retry the store says %s", rec.State)
	}

	// compensate: a running saga whose owner holds its lease.
	running := start("block")
	eventually(t, 10*time.Second, "saga running at step 2", func() bool {
		rec, err := pl.order.Sagas.Get(ctx, running)
		return err == nil && rec.State == sagastore.StateRunning && rec.Step == 1
	})
	pl.must(t, cli.ExitRefused, "", "sagas", "retry", running, "--yes")
	r := pl.must(t, cli.ExitOK, "", "sagas", "compensate", running, "--yes", "--wait", "20s")
	if !strings.Contains(r.stdout, "handed to the peers of order: compensating") || !strings.Contains(r.stdout, "is compensated") {
		t.Fatalf("compensate:\n%s", r.stdout)
	}
}

// TestEventsAndDeadLetters: events tail shows what a subject holds; a
// message the consumer cannot handle is listed as a dead letter with its
// original headers, and replay after the fix gets it handled, once.
func TestEventsAndDeadLetters(t *testing.T) {
	pl := startPlatform(t, nil)
	ctx := t.Context()
	for i := range 3 {
		msg := &transport.Msg{Subject: "catga.evt.widget.made", Data: fmt.Appendf(nil, `{"id":"w%d"}`, i), Header: transport.Header{
			transport.HeaderMsgID: {fmt.Sprintf("widget-%d", i)}, transport.HeaderNatsMsgID: {fmt.Sprintf("widget-%d", i)}, "X-Trace": {"t" + fmt.Sprint(i)}}}
		if err := pl.order.Transport.PublishDurable(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	var dead cli.DeadLetterPage
	eventually(t, 10*time.Second, "3 dead letters", func() bool {
		r := pl.catgaCLI(t, "", "dlq", "list", "--json")
		dead = decode[cli.DeadLetterPage](t, r)
		return r.code == cli.ExitOK && len(dead.DeadLetters) == 3
	})
	for i, d := range dead.DeadLetters {
		if d.Consumer != "order_widget-made" || d.OriginalSubject != "catga.evt.widget.made" || !strings.Contains(d.Reason, "widget factory closed") ||
			d.Headers["X-Trace"][0] != fmt.Sprint("t", i) || d.Headers[transport.HeaderMsgID][0] != fmt.Sprint("widget-", i) || compact(d.Data) != fmt.Sprintf(`{"id":"w%d"}`, i) {
			t.Fatalf("dead letter %d: %+v", i, d)
		}
	}
	// Paging.
	p1 := decode[cli.DeadLetterPage](t, pl.must(t, cli.ExitOK, "", "dlq", "list", "--limit", "2", "--json"))
	p2 := decode[cli.DeadLetterPage](t, pl.must(t, cli.ExitOK, "", "dlq", "list", "--limit", "2", "--after", fmt.Sprint(p1.After), "--json"))
	if len(p1.DeadLetters) != 2 || !p1.More || len(p2.DeadLetters) != 1 || p2.More || p2.DeadLetters[0].Seq != dead.DeadLetters[2].Seq {
		t.Fatalf("dlq pages: %+v then %+v", p1, p2)
	}

	// events tail: the last --count of the subject, oldest first.
	tail := decode[[]cli.Message](t, pl.must(t, cli.ExitOK, "", "events", "tail", "catga.evt.widget.made", "--count", "2", "--json"))
	if len(tail) != 2 || compact(tail[0].Data) != `{"id":"w1"}` || compact(tail[1].Data) != `{"id":"w2"}` || tail[1].Headers["X-Trace"][0] != "t2" {
		t.Fatalf("events tail --count 2: %+v", tail)
	}
	if r := pl.must(t, cli.ExitOK, "", "events", "tail", "catga.evt.widget.made", "--since", "0s"); !strings.Contains(r.stdout, "0 event(s)") {
		t.Fatalf("tail --since 0s:\n%s", r.stdout)
	}
	pl.must(t, cli.ExitUsage, "", "events", "tail", "catga.evt.widget.made", "--since", "yesterday")

	// Replay the first after the fix: handled once, removed from the list.
	pl.broken.Store(false)
	seq := fmt.Sprint(dead.DeadLetters[0].Seq)
	pl.must(t, cli.ExitRefused, "no\n", "dlq", "replay", seq)
	rep := decode[cli.ReplayResult](t, pl.must(t, cli.ExitOK, "y\n", "dlq", "replay", seq, "--json"))
	if rep.Subject != "catga.evt.widget.made" || !rep.Removed || rep.NewSeq == 0 {
		t.Fatalf("replay: %+v", rep)
	}
	eventually(t, 10*time.Second, "the replayed widget handled", func() bool { return pl.made.Load() == 1 })
	got := decode[[]cli.Message](t, pl.must(t, cli.ExitOK, "", "events", "tail", "catga.evt.widget.made", "--count", "1", "--json"))
	if len(got) != 1 || got[0].Seq != rep.NewSeq || got[0].Headers["X-Trace"][0] != "t0" || got[0].Headers[transport.HeaderDeadReason] != nil {
		t.Fatalf("replayed message: %+v, want the original headers without the dead-letter ones", got)
	}
	left := decode[cli.DeadLetterPage](t, pl.must(t, cli.ExitOK, "", "dlq", "list", "--json"))
	if len(left.DeadLetters) != 2 {
		t.Fatalf("after replay: %d dead letters, want 2", len(left.DeadLetters))
	}
	pl.must(t, cli.ExitRefused, "", "dlq", "replay", seq, "--yes")                    // gone
	pl.must(t, cli.ExitRefused, "", "dlq", "replay", fmt.Sprint(rep.NewSeq), "--yes") // not a dead letter
	time.Sleep(200 * time.Millisecond)
	if n := pl.made.Load(); n != 1 {
		t.Fatalf("the widget consumer handled %d messages, want 1", n)
	}

	// --follow: the last event, then the ones published while it follows,
	// one JSON object a line, until --for passes.
	followed := make(chan result, 1)
	go func() {
		followed <- pl.catgaCLI(t, "", "events", "tail", "catga.evt.widget.made", "--count", "1", "--follow", "--for", "3s", "--json")
	}()
	time.Sleep(time.Second)
	if err := pl.order.Transport.PublishDurable(ctx, &transport.Msg{Subject: "catga.evt.widget.made", Data: []byte(`{"id":"late"}`),
		Header: transport.Header{transport.HeaderMsgID: {"widget-late"}, transport.HeaderNatsMsgID: {"widget-late"}}}); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-followed:
	case <-time.After(15 * time.Second):
		t.Fatal("tail --follow --for 3s did not return within 15s")
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != cli.ExitOK || len(lines) != 2 || !strings.Contains(lines[0], fmt.Sprintf(`"seq":%d`, rep.NewSeq)) || !strings.Contains(lines[1], `"data":{"id":"late"}`) {
		t.Fatalf("tail --follow: exit %d, lines %q", r.code, lines)
	}
}

// TestUsage: exit code 2 for malformed command lines, help with examples,
// completion scripts; none needs a platform.
func TestUsage(t *testing.T) {
	pl := &platform{env: map[string]string{"CATGA_NATS_URL": "nats://127.0.0.1:1"}} // nothing listens
	for _, args := range [][]string{
		{"bogus"},
		{"sagas", "list", "--bogus"},
		{"sagas", "show"},
		{"sagas", "retry", "a", "b"},
		{"sagas", "list", "--limit", "x"},
		{"sagas", "list", "--limit", "0"},
		{"dlq", "replay", "abc"},
		{"events", "tail"},
	} {
		r := pl.must(t, cli.ExitUsage, "", args...)
		if !strings.Contains(r.stderr, "--help") {
			t.Fatalf("catga %v: no hint at --help:\n%s", args, r.stderr)
		}
	}
	if r := pl.must(t, cli.ExitOK, "", "sagas", "retry", "--help"); !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "--yes") {
		t.Fatalf("help:\n%s", r.stdout)
	}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		if r := pl.must(t, cli.ExitOK, "", "completion", sh); !strings.Contains(r.stdout, "catga") {
			t.Fatalf("completion %s: %q", sh, r.stdout[:min(200, len(r.stdout))])
		}
	}
	if r := pl.must(t, cli.ExitOK, "", "__complete", "sagas", "list", "--state", ""); !strings.Contains(r.stdout, "compensating") {
		t.Fatalf("--state completion:\n%s", r.stdout)
	}
	// No NATS there: exit code 1.
	if r := pl.must(t, cli.ExitError, "", "peers"); !strings.Contains(r.stderr, "connect to NATS nats://127.0.0.1:1") {
		t.Fatalf("unreachable NATS: %+v", r)
	}
}
