// Package console_test drives the saga console in a real headless
// Chromium (Debian's package, started by chromedp) against a real peer:
// embedded nats-server, the saga state in NATS JetStream KV, the event
// store in SQLite, the console mounted by the peer chassis.
package console_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// EnvScreenshots names a directory the test saves screenshots of the
// pages to (overview.png, stuck.png, compensated.png), to look at.
const EnvScreenshots = "CATGA_CONSOLE_SCREENSHOTS"

// chromium finds Debian's chromium. Without it the test fails under
// CATGA_E2E=1 and otherwise skips, saying so loudly (scripts/install-deps.sh,
// run by `make test`, installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH, so the saga console's browser test cannot run; install Debian's package: scripts/install-deps.sh (or apt-get install chromium)"
	if os.Getenv("CATGA_E2E") == "1" {
		t.Fatal(msg)
	}
	msg = "!!! SKIPPED: " + msg
	fmt.Fprintln(os.Stderr, msg)
	t.Skip(msg)
	return ""
}

type order struct {
	Amount int `json:"amount"`
}

// shop is a service with one saga: "charge" (refund is its compensation)
// then "ship", which refuses big orders. While refunds are broken the
// refund fails permanently, so a refused order's saga ends Stuck.
type shop struct {
	sagas   atomic.Pointer[saga.Saga[order]]
	broken  atomic.Bool
	charged atomic.Int64
	refunds atomic.Int64
}

func (s *shop) service() peer.Service {
	return peer.Service{Name: "shop", Setup: func(_ context.Context, p *peer.Peer) error {
		sg, err := saga.Register(p.Sagas, saga.Definition[order]{Name: "order", Steps: []saga.Step[order]{
			{Name: "charge",
				Action: func(_ context.Context, o *order) error { s.charged.Add(int64(o.Amount)); return nil },
				Compensate: func(_ context.Context, o *order) error {
					if s.broken.Load() {
						return catga.Permanent(errors.New("refund refused: the payment provider closed the account"))
					}
					s.refunds.Add(1)
					s.charged.Add(-int64(o.Amount))
					return nil
				},
				CompensationRetry: saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond},
			},
			{Name: "ship", Action: func(_ context.Context, o *order) error {
				if o.Amount > 100 {
					return catga.Reject("too_heavy", "cannot ship an order of %d", o.Amount)
				}
				return nil
			}},
		}})
		s.sagas.Store(sg)
		return err
	}}
}

func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server, a peer and chromium; skipped in -short mode")
	}
	bin := chromium(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	srv, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	sh := &shop{}
	sh.broken.Store(true)
	ready := make(chan *peer.Peer, 1)
	runCtx, stopPeer := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- peer.Run(runCtx, peer.Config{NATSURLs: []string{srv.ClientURL()}, HTTPAddr: "127.0.0.1:0",
			SQLitePath: filepath.Join(t.TempDir(), "shop.db"), ShutdownTimeout: 5 * time.Second},
			sh.service(), peer.WithReady(func(p *peer.Peer) { ready <- p }))
	}()
	defer func() {
		stopPeer()
		if err := <-done; err != nil {
			t.Errorf("peer: %v", err)
		}
	}()
	var p *peer.Peer
	select {
	case p = <-ready:
	case err := <-done:
		t.Fatalf("peer did not start: %v", err)
	case <-ctx.Done():
		t.Fatal("peer not ready")
	}
	base := "http://" + p.Addr().String() + peer.PathConsole

	// One order ships; one is refused at "ship" and, its refund failing
	// for good, its saga is Stuck.
	if rec, err := sh.sagas.Load().Run(ctx, "order-ok", order{Amount: 20}); err != nil || rec.State != sagastore.StateCompleted {
		t.Fatalf("order-ok: %s %v", rec.State, err)
	}
	const stuck = "order-7f3a"
	if rec, err := sh.sagas.Load().Run(ctx, stuck, order{Amount: 450}); err != nil || rec.State != sagastore.StateStuck {
		t.Fatalf("%s: %s %v, want stuck", stuck, rec.State, err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 1000), chromedp.Flag("lang", "en-US"))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// Start the browser on bctx itself: the first action's context owns
	// the browser, and the steps below run on shorter-lived ones.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}

	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	// Each step is bounded on its own, so that a page that never shows
	// what it should fails in seconds, naming the step.
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 10*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	shot := func(name string) {
		t.Helper()
		dir := os.Getenv(EnvScreenshots)
		if dir == "" {
			return
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}

	// The overview opens on the stuck sagas, with the counts.
	run("open the console", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`tr[data-saga="`+stuck+`"]`)))
	if n := text(`.n[data-state="stuck"]`); n != "1" {
		t.Fatalf("stuck count %q, want 1", n)
	}
	if n := text(`.n[data-state="completed"]`); n != "1" {
		t.Fatalf("completed count %q, want 1", n)
	}
	if e := text(`tr[data-saga="` + stuck + `"] td.err`); !strings.Contains(e, "payment provider closed the account") {
		t.Fatalf("listing shows error %q", e)
	}
	// Live: a saga that gets stuck while the page is open shows up on it
	// without a reload.
	const later = "order-9c1d"
	if rec, err := sh.sagas.Load().Run(ctx, later, order{Amount: 300}); err != nil || rec.State != sagastore.StateStuck {
		t.Fatalf("%s: %s %v, want stuck", later, rec.State, err)
	}
	run("the page updates itself", chromedp.WaitVisible(chromedp.CSS(`tr[data-saga="`+later+`"]`)))
	if n := text(`.n[data-state="stuck"]`); n != "2" {
		t.Fatalf("stuck count %q after a second saga got stuck, want 2", n)
	}
	shot("overview")

	// Its page: the timeline shows the failed action and the stuck
	// compensation.
	run("open the stuck saga", chromedp.Click(chromedp.CSS(`a[href$="/sagas/`+stuck+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`svg.timeline .bar.undo.stuck`)),
		chromedp.WaitVisible(chromedp.CSS(`svg.timeline .bar.action.failed`)),
		chromedp.WaitVisible(chromedp.CSS(`#live-status.on`))) // the live stream is open
	if s := text(`.head .badge`); s != "stuck" {
		t.Fatalf("state badge %q", s)
	}
	shot("stuck")

	// Cancelling the confirmation does nothing.
	run("open and cancel the confirmation", chromedp.Click(chromedp.CSS(`button[data-action="retry"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog#confirm[open]`)),
		chromedp.Click(chromedp.CSS(`#confirm-cancel`)),
		chromedp.WaitNotPresent(chromedp.CSS(`dialog#confirm[open]`)))
	time.Sleep(200 * time.Millisecond)
	if rec, err := p.Sagas.Get(ctx, stuck); err != nil || rec.State != sagastore.StateStuck {
		t.Fatalf("after cancel: %s %v, want still stuck", rec.State, err)
	}

	// The operator fixes the cause, then retries: after confirming, the
	// compensation succeeds and the page shows the saga Compensated.
	sh.broken.Store(false)
	run("retry", chromedp.Click(chromedp.CSS(`button[data-action="retry"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog#confirm[open]`)))
	if id := text(`#confirm-id`); id != stuck {
		t.Fatalf("the confirmation names %q", id)
	}
	run("confirm", chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		chromedp.WaitVisible(chromedp.CSS(`.head .badge.s-compensated`)))
	shot("compensated")
	rec, err := p.Sagas.Get(ctx, stuck)
	if err != nil || rec.State != sagastore.StateCompensated {
		t.Fatalf("store: %s %v, want compensated", rec.State, err)
	}
	if got := sh.refunds.Load(); got != 1 {
		t.Fatalf("%d refunds, want 1", got)
	}
	if got := sh.charged.Load(); got != 20+300 {
		t.Fatalf("charged %d in all, want 320 (the retried order refunded, the other still stuck)", got)
	}
	run("back to the overview", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`.n[data-state="stuck"]`)))
	if n := text(`.n[data-state="stuck"]`); n != "1" {
		t.Fatalf("stuck count after the retry %q, want 1 (the other one)", n)
	}
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}
