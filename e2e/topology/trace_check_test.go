package topology_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
	"github.com/catga-go/catga/libs/contracts"
)

// kill is one SIGKILL a scenario sent: the peer, and when.
type kill struct {
	peer *topology.Peer
	at   time.Time
}

// lostSpanWindow is how long after answering a peer may still hold a span
// it has not exported: the batch delay the topology sets (100 ms), the
// export, and a margin for a loaded machine. A peer SIGKILLed within it
// may take its spans with it.
const lostSpanWindow = 3 * time.Second

// traceOrder is what the trace check knows of one finished order.
type traceOrder struct {
	id    string
	final order
	// trace is the client's trace id of its POST /orders (hex), "" when
	// the test did not place it through placeOrders.
	trace string
	// httpMayBeLost: the peer that answered its POST was SIGKILLed within
	// lostSpanWindow of answering, so its span of the request may be lost.
	httpMayBeLost bool
}

// messageOrder is the order a span carries: the saga's step commands
// carry the step's idempotency key as their message id,
// "<order id>/<step>/<key epoch>[/undo]@<epoch>" (saga ids are order ids).
// Events carry uuids of their own and the saga engine's spans, which carry
// catga.saga.id, live in traces of their own by design (linked from the
// order's, see services/order/app/trace.go): neither says which order.
func messageOrder(s *topology.Span) string {
	id, _, ok := strings.Cut(s.Attributes["messaging.message.id"], "/")
	if !ok {
		return ""
	}
	return id
}

// traceProblems checks the one-trace-per-order invariant on spans, for
// every order of orders, and returns what is wrong, by order id, and the
// orders whose missing POST span was excused (httpMayBeLost):
//   - the spans that carry the order are all in one trace (the client's,
//     when known): a second trace is a split;
//   - that trace holds the order peer's server span of POST /orders (unless
//     httpMayBeLost), the payment peer's server span of the charge command (for
//     an order that reached payment: completed, declined, out of stock),
//     the inventory peer's server span of the reserve command (completed
//     or out of stock), and the notification peer's consumer span of the
//     order.completed or order.cancelled event;
//   - no span of that trace carries another order.
func traceProblems(spans []topology.Span, orders []traceOrder) (problems map[string][]string, excused []string) {
	known := make(map[string]bool, len(orders))
	for _, o := range orders {
		known[o.id] = true
	}
	byTrace := map[string][]*topology.Span{}
	carrying := map[string][]*topology.Span{}
	for i := range spans {
		s := &spans[i]
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
		if id := messageOrder(s); known[id] {
			carrying[id] = append(carrying[id], s)
		}
	}
	problems = map[string][]string{}
	for _, o := range orders {
		var p []string
		traces := map[string][]*topology.Span{}
		for _, s := range carrying[o.id] {
			traces[s.TraceID] = append(traces[s.TraceID], s)
		}
		trace := o.trace
		if trace == "" && len(traces) == 1 {
			for id := range traces {
				trace = id
			}
		}
		switch {
		case len(traces) == 0:
			p = append(p, "no span carries it (no command span with messaging.message.id "+o.id+"/…)")
		case trace == "":
			p = append(p, fmt.Sprintf("split: the spans that carry it are in %d traces: %s", len(traces), describeTraces(traces)))
		default:
			delete(traces, trace)
			if len(traces) > 0 {
				p = append(p, fmt.Sprintf("split: spans that carry it are outside its trace %s, in %s", trace, describeTraces(traces)))
			}
		}
		if trace != "" {
			missing, httpExcused := missingSpans(o, byTrace[trace])
			if len(missing) > 0 {
				var held []string
				for _, s := range byTrace[trace] {
					held = append(held, describe(s))
				}
				sort.Strings(held)
				p = append(p, fmt.Sprintf("its trace %s lacks the %s (it holds %d spans: %s)",
					trace, strings.Join(missing, "; the "), len(held), strings.Join(held, "; ")))
			}
			if httpExcused {
				excused = append(excused, o.id)
			}
			for _, s := range byTrace[trace] {
				if id := messageOrder(s); known[id] && id != o.id {
					p = append(p, fmt.Sprintf("its trace %s holds a span of order %s: %s", trace, id, describe(s)))
				}
			}
		}
		if len(p) > 0 {
			problems[o.id] = p
		}
	}
	return problems, excused
}

// missingSpans names the spans o's trace must hold and does not;
// httpExcused: the POST span is missing, excused by o.httpMayBeLost.
func missingSpans(o traceOrder, inTrace []*topology.Span) (out []string, httpExcused bool) {
	type want struct {
		what                 string
		service, kind, match string // match: the span's name, or its messaging destination
	}
	reason := o.final.Reason
	reachedPayment := o.final.State == "COMPLETED" || reason == "insufficient_funds" || reason == "out_of_stock"
	reachedInventory := o.final.State == "COMPLETED" || reason == "out_of_stock"
	event := contracts.OrderCompletedTopic.Subject()
	if o.final.State == "CANCELLED" {
		event = contracts.OrderCancelledTopic.Subject()
	}
	wants := []want{{"order: server span of POST /orders", "order", "server", "POST /orders"}}
	if reachedPayment {
		wants = append(wants, want{"payment: server span of the charge", "payment", "server", contracts.PaymentCharge.Subject()})
	}
	if reachedInventory {
		wants = append(wants, want{"inventory: server span of the reservation", "inventory", "server", contracts.InventoryReserve.Subject()})
	}
	wants = append(wants, want{"notification: consumer span of " + event, "notification", "consumer", event})
	for i, w := range wants {
		found := false
		for _, s := range inTrace {
			if s.Service == w.service && s.Kind == w.kind && (s.Name == w.match || s.Attributes["messaging.destination.name"] == w.match) {
				found = true
				break
			}
		}
		if !found && i == 0 && o.httpMayBeLost {
			httpExcused = true
			continue
		}
		if !found {
			out = append(out, w.what)
		}
	}
	return out, httpExcused
}

func describe(s *topology.Span) string {
	d := s.Service + " " + s.Kind + " " + s.Name
	if id := s.Attributes["messaging.message.id"]; id != "" {
		d += " [" + id + "]"
	}
	return d
}

func describeTraces(traces map[string][]*topology.Span) string {
	var out []string
	for id, spans := range traces {
		var names []string
		for _, s := range spans {
			names = append(names, describe(s))
		}
		sort.Strings(names)
		out = append(out, id+": "+strings.Join(names, "; "))
	}
	sort.Strings(out)
	return strings.Join(out, " | ")
}

// checkTraces checks one trace per order (see traceProblems) for every
// order b found finished, on the spans the peers exported to the
// topology's receiver, polling until they hold or settle passes (peers
// export in batches). kills are the SIGKILLs the scenario sent: a killed
// peer's unexported spans die with it, so an order whose POST it answered
// just before (within lostSpanWindow) is excused from showing that span;
// the orders excused are counted and printed.
func checkTraces(ctx context.Context, t *testing.T, c *client, topo *topology.Topology, b books, kills []kill, settle time.Duration) {
	t.Helper()
	var orders []traceOrder
	for id, final := range b.final {
		o := traceOrder{id: id, final: final}
		if p, ok := c.placement(id); ok {
			o.trace = p.trace
			for _, k := range kills {
				if k.peer == p.peer && k.at.After(p.at.Add(-time.Second)) && k.at.Before(p.at.Add(lostSpanWindow)) {
					o.httpMayBeLost = true
					break
				}
			}
		}
		orders = append(orders, o)
	}
	started := time.Now()
	var (
		spans    []topology.Span
		problems map[string][]string
		excused  []string
		err      error
	)
	for {
		spans, err = topo.Spans(ctx)
		if err != nil {
			t.Errorf("traces: %v", err)
			return
		}
		problems, excused = traceProblems(spans, orders)
		if len(problems) == 0 || time.Since(started) > settle {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	ids := make([]string, 0, len(problems))
	for id := range problems {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	const shown = 10
	for i, id := range ids {
		if i == shown {
			t.Errorf("traces: ... and %d more orders without one trace", len(ids)-shown)
			break
		}
		t.Errorf("traces: order %s (%s %s): %s", id, b.final[id].State, b.final[id].Reason, strings.Join(problems[id], "\n\t"))
	}
	traces := map[string]bool{}
	for _, s := range spans {
		traces[s.TraceID] = true
	}
	fmt.Printf("  traces: %d of %d orders form one trace each, with spans of every service they reached "+
		"(%d spans in %d traces received; %d POST spans missing, excused: their peer was SIGKILLed right after answering); waited %s\n",
		len(orders)-len(problems), len(orders), len(spans), len(traces), len(excused), time.Since(started).Round(time.Millisecond))
}
