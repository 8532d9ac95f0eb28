package topology_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// flow places orders at a steady pace while a fault is injected: clients
// concurrent clients each place one order, pause pace, and so on, until
// stop is called (or limit orders were placed). Four orders in five are
// the rich customers' (paid, in stock: they must complete), the fifth
// poor's (declined).
// A failed request is retried with the same Idempotency-Key on a random
// peer every 200 ms for up to 30 s, so a fault delays an order but never
// loses it.
type flow struct {
	mu     sync.Mutex
	peers  []*topology.Peer // where clients send their orders
	placed map[string]expect
	order  []string // ids of placed, in the order their POSTs were answered
	failed []error
	stopCh chan struct{}
	wg     sync.WaitGroup
}

// richAccounts is how many paying customers a flow spreads its orders
// over: each account is one event stream that every charge appends to, so
// one account would make the charges of all peers contend for it.
const richAccounts = 4

// flowBalances are the opening balances of the flow's customers.
func flowBalances() map[string]int64 {
	b := map[string]int64{"poor": 0}
	for i := range richAccounts {
		b["rich"+strconv.Itoa(i)] = 10_000_000
	}
	return b
}

func startFlow(ctx context.Context, c *client, peers []*topology.Peer, run string, clients int, pace time.Duration, limit int) *flow {
	f := &flow{peers: peers, placed: map[string]expect{}, stopCh: make(chan struct{})}
	next := make(chan int)
	f.wg.Go(func() {
		defer close(next)
		for i := range limit {
			select {
			case next <- i:
			case <-f.stopCh:
				return
			case <-ctx.Done():
				return
			}
		}
	})
	for range clients {
		f.wg.Go(func() {
			for i := range next {
				p := placement{"rich" + strconv.Itoa(i%richAccounts), []item{{"widget", 1, 250}}, expect{state: "COMPLETED"}}
				if i%5 == 4 {
					p = placement{"poor", []item{{"widget", 1, 250}}, expect{"CANCELLED", "insufficient_funds"}}
				}
				key := http.Header{"Idempotency-Key": {run + "-" + strconv.Itoa(i)}}
				var (
					o   order
					err error
				)
				for end := time.Now().Add(30 * time.Second); ; {
					peer := f.peer()
					if _, err = c.do(ctx, http.MethodPost, peer.URL()+"/orders", key,
						map[string]any{"customer": p.customer, "items": p.items}, &o); err == nil || time.Now().After(end) || ctx.Err() != nil {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				f.mu.Lock()
				if err != nil {
					f.failed = append(f.failed, err)
				} else {
					f.placed[o.ID] = p.want
					f.order = append(f.order, o.ID)
				}
				f.mu.Unlock()
				time.Sleep(pace)
			}
		})
	}
	return f
}

func (f *flow) peer() *topology.Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peers[rand.IntN(len(f.peers))]
}

// exclude stops sending orders to p; a POST already on its way there
// fails and is retried on another peer with the same idempotency key.
func (f *flow) exclude(p *topology.Peer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = slices.DeleteFunc(slices.Clone(f.peers), func(q *topology.Peer) bool { return q == p })
}

// recent returns the ids of the last n orders placed.
func (f *flow) recent(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.order[max(0, len(f.order)-n):])
}

// stop ends the flow and returns the orders placed and the requests that
// failed past their retries.
func (f *flow) stop() (map[string]expect, []error) {
	close(f.stopCh)
	f.wg.Wait()
	return f.placed, f.failed
}

// sagaEvent is one event of an order's saga history.
type sagaEvent struct {
	Order string
	At    time.Time `json:"at"`
	Step  string    `json:"step"`
	What  string    `json:"what"`
	Epoch uint64    `json:"epoch"`
	Error string    `json:"error"`
}

// sagaHistories reads the saga history of every order in ids (GET
// /orders/<id> on random order peers), sorted by time.
func sagaHistories(ctx context.Context, c *client, topo *topology.Topology, ids map[string]expect) ([]sagaEvent, error) {
	peers := topo.Peers["order"]
	var all []sagaEvent
	for id := range ids {
		var d struct {
			Saga *struct {
				History []sagaEvent `json:"history"`
			} `json:"saga"`
		}
		if _, err := c.do(ctx, http.MethodGet, peers[rand.IntN(len(peers))].URL()+"/orders/"+id, nil, nil, &d); err != nil {
			return nil, err
		}
		if d.Saga == nil {
			return nil, fmt.Errorf("order %s: no saga", id)
		}
		for _, ev := range d.Saga.History {
			ev.Order = id
			all = append(all, ev)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	return all, nil
}

// largestGap is the longest time between consecutive instants of at
// (sorted) within [from, to], the window's ends counting as instants: a
// window with nothing in it is one gap.
func largestGap(at []time.Time, from, to time.Time) (gap time.Duration, start time.Time) {
	prev := from
	for _, t := range at {
		if t.Before(from) || t.After(to) {
			continue
		}
		if d := t.Sub(prev); d > gap {
			gap, start = d, prev
		}
		prev = t
	}
	if d := to.Sub(prev); d > gap {
		gap, start = d, prev
	}
	return gap, start
}

// dumpLogs logs the last lines of every peer of services, to explain a
// failure.
func dumpLogs(ctx context.Context, t *testing.T, topo *topology.Topology, lines int, services ...string) {
	t.Helper()
	for _, s := range services {
		for _, p := range topo.Peers[s] {
			logs, err := topo.Logs(ctx, p)
			if err != nil {
				t.Logf("%s: logs: %v", p.Name, err)
				continue
			}
			ls := strings.Split(strings.TrimSpace(logs), "\n")
			if len(ls) > lines {
				ls = ls[len(ls)-lines:]
			}
			t.Logf("%s, last %d log lines:\n%s", p.Name, len(ls), strings.Join(ls, "\n"))
		}
	}
}

// explainUnexpected logs the saga of up to three orders that ended other
// than expected: its error and history say which step failed and why.
func explainUnexpected(ctx context.Context, t *testing.T, c *client, topo *topology.Topology, placed map[string]expect) {
	t.Helper()
	shown := 0
	for id, want := range placed {
		if shown == 3 {
			return
		}
		var d struct {
			order
			Saga *struct {
				Error   string      `json:"error"`
				History []sagaEvent `json:"history"`
			} `json:"saga"`
		}
		if _, err := c.do(ctx, http.MethodGet, topo.Peers["order"][0].URL()+"/orders/"+id, nil, nil, &d); err != nil ||
			d.Saga == nil || want.state == "" || (d.State == want.state && (want.reason == "" || d.Reason == want.reason)) {
			continue
		}
		shown++
		var h []string
		for _, ev := range d.Saga.History {
			h = append(h, fmt.Sprintf("%s %s %s e%d %s", ev.At.Format("15:04:05.000"), ev.Step, ev.What, ev.Epoch, ev.Error))
		}
		t.Logf("order %s: %s (%s), want %s: saga error %q, history:\n  %s", id, d.State, d.Reason, want.state, d.Saga.Error, strings.Join(h, "\n  "))
	}
}
