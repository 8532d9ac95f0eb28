package topology_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/catga-go/catga/e2e/topology"
)

// TestScenarioReplay captures every command and event on NATS while orders
// flow, and once every order is finished republishes them all, twice at
// once each: the commands with their original headers (the same message
// id), the commands again with a fresh message id (the same body, saga
// step key and epoch), and the events into JetStream with a fresh
// Nats-Msg-Id (so the stream's own deduplication does not hide them).
// Before the replay the declined customer gets money and the scarce SKU
// stock, so a replayed charge or reservation that was refused (insufficient
// funds, out of stock) would now succeed, for an order long cancelled,
// unless the participant refuses it again (the saga compensates a refused
// step too, and the compensation tombstones its key at the participant's
// fence). The books must be what they were: one charge and one reservation
// per completed order, none for a cancelled one, one notification per
// finished order.
func TestScenarioReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short runs no containers")
	}
	topo := topology.Start(t, topology.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newClient()

	const scarceStock = 4
	balances := map[string]int64{"rich": 10_000_000, "poor": 0}
	stocked := map[string]int64{"widget": 1000, "scarce": scarceStock}
	if err := openBooks(ctx, c, topo, balances, stocked); err != nil {
		t.Fatalf("setup: %v", err)
	}
	capture, err := topo.Capture(ctx, "catga.cmd.>", "catga.evt.>")
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()

	placed, failed := placeOrders(ctx, c, topo.Peers["order"], "replay", mixedPlan(30, 6, 8), 6, 3, 0)
	for _, err := range failed {
		t.Errorf("place: %v", err)
	}
	before := checkBooks(ctx, t, c, topo, placed, balances, stocked, 2*time.Minute)
	if t.Failed() {
		t.FailNow()
	}
	var cmds, evts []*nats.Msg
	for _, m := range capture.Messages() {
		switch {
		case strings.HasPrefix(m.Subject, "catga.cmd."):
			cmds = append(cmds, m)
		case strings.HasPrefix(m.Subject, "catga.evt."):
			evts = append(evts, m)
		}
	}
	// At least a charge per order and a reservation per completed one; an
	// order.placed and an order.completed or order.cancelled per order.
	if len(cmds) < len(placed)+before.completed || len(evts) < 2*len(placed) {
		t.Fatalf("captured %d commands and %d events of %d orders: the capture missed them", len(cmds), len(evts), len(placed))
	}

	// Money for poor and stock for scarce now: a replayed charge or
	// reservation that was refused (insufficient funds, out of stock) would
	// now succeed, for an order long cancelled, unless it is refused again.
	topUpBooks(ctx, t, c, topo, balances, stocked)

	replayAt := time.Now()
	nc := capture.Conn()
	same := replayCommands(ctx, t, nc, cmds, false)
	fresh := replayCommands(ctx, t, nc, cmds, true)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	streams := replayEvents(ctx, t, js, evts)
	// The consumers have handled every replayed event once none is pending
	// or unacknowledged; a saga a replay restarted would publish more, so
	// look twice, a while apart.
	for range 2 {
		if err := drained(ctx, js, streams, time.Minute); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
	}
	replaying := time.Since(replayAt)

	after := checkBooks(ctx, t, c, topo, placed, balances, stocked, time.Minute)
	if after.completed != before.completed || after.cancelled != before.cancelled {
		t.Errorf("replays changed outcomes: %d completed, %d cancelled before; %d and %d after",
			before.completed, before.cancelled, after.completed, after.cancelled)
	}
	fmt.Printf("scenario replay: %d orders (%d completed, %d cancelled %v); replayed %d commands ×2 with their "+
		"message ids (answers %v) and ×2 with fresh ids (answers %v), %d events ×2 into JetStream (%v) with fresh "+
		"Nats-Msg-Ids, in %s; books unchanged\n",
		len(placed), after.completed, after.cancelled, after.reasons, len(cmds), same, fresh, len(evts), streams,
		replaying.Round(time.Millisecond))
}

// replayCommands sends every captured command again as a request, twice
// at once, with its headers (and a fresh Catga-Msg-Id when freshID), and
// returns how the services answered, by Catga-Status ("ok" when none). A
// command not answered within 10 s fails t: it was not handled.
func replayCommands(ctx context.Context, t *testing.T, nc *nats.Conn, cmds []*nats.Msg, freshID bool) map[string]int {
	t.Helper()
	var (
		mu      sync.Mutex
		answers = map[string]int{}
		wg      sync.WaitGroup
		slots   = make(chan struct{}, 16)
	)
	for _, m := range cmds {
		h := nats.Header{}
		for k, v := range m.Header {
			h[k] = slices.Clone(v)
		}
		if freshID {
			h.Set("Catga-Msg-Id", nuid.Next())
		}
		for range 2 {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				reply, err := nc.RequestMsgWithContext(rctx, &nats.Msg{Subject: m.Subject, Header: h, Data: m.Data})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("replay %s %s: %v", m.Subject, h.Get("Catga-Idempotency-Key"), err)
					return
				}
				status := reply.Header.Get("Catga-Status")
				if status == "" {
					status = "ok"
				}
				if code := reply.Header.Get("Catga-Error-Code"); code != "" {
					status += ":" + code
				}
				answers[status]++
			})
		}
	}
	wg.Wait()
	return answers
}

// replayEvents publishes every captured event into JetStream again, twice,
// with a fresh Nats-Msg-Id each time and every other header as captured.
// It returns the streams that took them.
func replayEvents(ctx context.Context, t *testing.T, js jetstream.JetStream, evts []*nats.Msg) []string {
	t.Helper()
	streams := map[string]bool{}
	for _, m := range evts {
		for range 2 {
			h := nats.Header{}
			for k, v := range m.Header {
				h[k] = slices.Clone(v)
			}
			h.Set(jetstream.MsgIDHeader, nuid.Next())
			ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: m.Subject, Header: h, Data: m.Data})
			if err != nil {
				t.Fatalf("replay event %s: %v", m.Subject, err)
			}
			if ack.Duplicate {
				t.Fatalf("replay event %s: JetStream took it for a duplicate despite a fresh Nats-Msg-Id", m.Subject)
			}
			streams[ack.Stream] = true
		}
	}
	return slices.Sorted(maps.Keys(streams))
}

// drained waits until every consumer of streams has nothing pending and
// nothing awaiting acknowledgement.
func drained(ctx context.Context, js jetstream.JetStream, streams []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		busy, err := busyConsumers(ctx, js, streams)
		if err != nil {
			return err
		}
		if len(busy) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consumers still busy after %s: %v", timeout, busy)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func busyConsumers(ctx context.Context, js jetstream.JetStream, streams []string) ([]string, error) {
	var busy []string
	for _, name := range streams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return nil, err
		}
		l := s.ListConsumers(ctx)
		for ci := range l.Info() {
			if ci.NumPending > 0 || ci.NumAckPending > 0 {
				busy = append(busy, fmt.Sprintf("%s/%s: %d pending, %d unacked", name, ci.Name, ci.NumPending, ci.NumAckPending))
			}
		}
		if err := l.Err(); err != nil {
			return nil, err
		}
	}
	return busy, nil
}

// topUpBooks deposits money for poor and stock for scarce.
func topUpBooks(ctx context.Context, t *testing.T, c *client, topo *topology.Topology, balances, stocked map[string]int64) {
	t.Helper()
	const more = 1_000_000
	if _, err := c.do(ctx, http.MethodPost, topo.Peers["payment"][1].URL()+"/accounts/poor/deposits", nil,
		map[string]any{"amount": more}, nil); err != nil {
		t.Fatalf("deposit: %v", err)
	}
	if _, err := c.do(ctx, http.MethodPost, topo.Peers["inventory"][1].URL()+"/stock/scarce", nil,
		map[string]any{"quantity": more}, nil); err != nil {
		t.Fatalf("restock: %v", err)
	}
	balances["poor"] += more
	stocked["scarce"] += more
}
