package topology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// sagaLease is the order peers' saga lease (saga.WithLeaseTTL's default,
// which the chassis keeps); a partition shorter than it proves nothing.
const sagaLease = 5 * time.Second

// TestScenarioPartitionOrderPeer cuts an order peer that owns running
// sagas off the network (`docker network disconnect`) for longer than the
// saga lease, then reconnects it. Its sagas must be finished by the other
// peers (they claim them once the lease expired, under a new epoch), and
// when it returns, its stale writes must be refused: the saga store's
// compare-and-set refuses its lease renewal, or a participant's fence its
// step call with an old epoch, and the peer logs that it lost the saga.
// The books must balance: nothing charged twice, nothing lost.
//
// So that the victim surely owns sagas in the middle of a step when it is
// cut off, the payment peers are frozen (`docker pause`) for a moment
// before: every order peer's sagas then wait in their charge call.
// Without it a saga spends a few milliseconds on its peer and the cut
// would often catch none.
func TestScenarioPartitionOrderPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short runs no containers")
	}
	topo := topology.Start(t, topology.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newClient()

	ids := map[string]*topology.Peer{} // transport id (saga owner) → peer
	for _, p := range topo.Peers["order"] {
		ids[peerID(ctx, t, topo, p)] = p
	}

	balances := flowBalances()
	stocked := map[string]int64{"widget": 100_000}
	if err := openBooks(ctx, c, topo, balances, stocked); err != nil {
		t.Fatalf("setup: %v", err)
	}
	f := startFlow(ctx, c, topo.Peers["order"], "partition", 4, 100*time.Millisecond, 2000)
	time.Sleep(2 * time.Second)

	for _, p := range topo.Peers["payment"] {
		if err := topo.Pause(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	// The victim is the peer that owns the most of the sagas now waiting
	// for payment: which peer consumes which order.placed is JetStream's
	// choice, and a peer picked beforehand sometimes owned none.
	victim, victimID, owned := busiestOwner(ctx, t, c, topo, ids, f.recent(80))
	if owned == 0 {
		t.Fatalf("no order peer owns a running saga of the last 80 orders with payment frozen: nothing to partition")
	}
	// Clients go to the order peers that stay (the victim's HTTP port goes
	// with its network); a POST on its way to the victim is retried
	// elsewhere with its idempotency key.
	f.exclude(victim)
	cutAt := time.Now()
	if err := topo.Disconnect(ctx, victim); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range topo.Peers["payment"] {
		if err := topo.Unpause(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Past the lease and the other peers' recovery (a third of a lease).
	time.Sleep(time.Until(cutAt.Add(2 * sagaLease)))
	back := time.Now()
	if err := topo.Reconnect(ctx, victim); err != nil {
		t.Fatal(err)
	}
	partition := back.Sub(cutAt)
	time.Sleep(3 * time.Second)
	placed, failed := f.stop()
	for _, err := range failed {
		t.Errorf("place: %v", err)
	}

	b := checkBooks(ctx, t, c, topo, placed, balances, stocked, time.Minute)
	if t.Failed() {
		explainUnexpected(ctx, t, c, topo, placed)
	}
	if t.Failed() {
		dumpLogs(ctx, t, topo, 25, "order", "payment", "inventory")
	}
	events, err := sagaHistories(ctx, c, topo, placed)
	if err != nil {
		t.Fatalf("saga histories: %v", err)
	}
	takenOver := map[string]bool{}
	for _, ev := range events {
		if ev.What == "claimed" && strings.Contains(ev.Error, victimID) {
			takenOver[ev.Order] = true
		}
	}
	logs, err := topo.Logs(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	refused := refusedStale(logs)
	fmt.Printf("scenario partition order peer: %s (owner of %d running sagas) cut off for %s (lease %s) under %d orders: %d of its sagas finished by other peers; "+
		"on its return %d stale writes refused (%s); %d completed, %d cancelled %v\n",
		victim.Name, owned, partition.Round(time.Millisecond), sagaLease, len(placed), len(takenOver),
		len(refused), strings.Join(refused, "; "), b.completed, b.cancelled, b.reasons)
	if partition <= sagaLease {
		t.Errorf("partition of %s, not longer than the lease %s", partition, sagaLease)
	}
	if len(takenOver) == 0 || len(refused) == 0 {
		claims := 0
		for _, ev := range events {
			if ev.What == "claimed" {
				claims++
				if claims <= 3 {
					t.Logf("claim: order %s at %s epoch %d %s", ev.Order, ev.At.Format("15:04:05.000"), ev.Epoch, ev.Error)
				}
			}
		}
		t.Logf("%d claims in all; cut at %s, back at %s", claims, cutAt.Format("15:04:05.000"), back.Format("15:04:05.000"))
		var warn []string
		for line := range strings.SplitSeq(logs, "\n") {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
				warn = append(warn, line)
			}
		}
		if len(warn) > 40 {
			warn = append(warn[:20], warn[len(warn)-20:]...)
		}
		t.Logf("%s's warnings:\n%s", victim.Name, strings.Join(warn, "\n"))
	}
	if len(takenOver) == 0 {
		t.Errorf("no saga of %s (%s) was claimed by another peer: the partition caught none, or nobody took them over", victim.Name, victimID)
	}
	if len(refused) == 0 {
		t.Errorf("%s's log shows no stale write refused after it came back", victim.Name)
	}
}

// busiestOwner reads the sagas of orders (GET /orders/<id>) and returns
// the order peer owning the most running ones, with its id and how many.
func busiestOwner(ctx context.Context, t *testing.T, c *client, topo *topology.Topology,
	ids map[string]*topology.Peer, orders []string,
) (*topology.Peer, string, int) {
	t.Helper()
	count := map[string]int{}
	for i, id := range orders {
		var d struct {
			Saga *struct {
				State string `json:"state"`
				Owner string `json:"owner"`
			} `json:"saga"`
		}
		peers := topo.Peers["order"]
		if _, err := c.do(ctx, http.MethodGet, peers[i%len(peers)].URL()+"/orders/"+id, nil, nil, &d); err != nil {
			t.Fatalf("order %s: %v", id, err)
		}
		if d.Saga != nil && d.Saga.State == "running" {
			count[d.Saga.Owner]++
		}
	}
	var best string
	for id := range ids {
		if best == "" || count[id] > count[best] {
			best = id
		}
	}
	return ids[best], best, count[best]
}

// peerID is the transport id p announced in its "peer started" log line:
// the owner of the sagas it runs.
func peerID(ctx context.Context, t *testing.T, topo *topology.Topology, p *topology.Peer) string {
	t.Helper()
	logs, err := topo.Logs(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(logs, "\n") {
		var l struct {
			Msg string `json:"msg"`
			ID  string `json:"id"`
		}
		if json.Unmarshal([]byte(strings.TrimSpace(line)), &l) == nil && l.Msg == "peer started" && l.ID != "" {
			return l.ID
		}
	}
	t.Fatalf("%s: no \"peer started\" line with an id in its log", p.Name)
	return ""
}

// refusedStale lists, from a peer's JSON log, the sagas it stopped because
// a write of its was refused as stale: the store's compare-and-set or a
// participant's epoch fence (saga.ErrLostOwnership), with why.
func refusedStale(logs string) []string {
	var out []string
	for line := range strings.SplitSeq(logs, "\n") {
		var l struct {
			Msg  string `json:"msg"`
			Saga string `json:"saga"`
			Err  string `json:"err"`
		}
		if json.Unmarshal([]byte(strings.TrimSpace(line)), &l) != nil || l.Msg != "catga: saga stopped" ||
			!strings.Contains(l.Err, "saga ownership lost") {
			continue
		}
		why := "store compare-and-set"
		if strings.Contains(l.Err, "stale_epoch") {
			why = "participant's epoch fence"
		}
		out = append(out, l.Saga+": "+why)
	}
	return out
}
