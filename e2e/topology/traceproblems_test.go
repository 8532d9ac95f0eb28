package topology_test

import (
	"strings"
	"testing"

	"github.com/catga-go/catga/e2e/topology"
	"github.com/catga-go/catga/libs/contracts"
)

// TestTraceProblems: the one-trace-per-order check passes the traces of
// healthy orders and names each way an order's trace can break.
func TestTraceProblems(t *testing.T) {
	const (
		x, y   = "0f7e3b1c-0000-4000-8000-00000000000x", "0f7e3b1c-0000-4000-8000-00000000000y"
		tx, ty = "aaaa", "bbbb"
	)
	charge, reserve := contracts.PaymentCharge.Subject(), contracts.InventoryReserve.Subject()
	completed, cancelled := contracts.OrderCompletedTopic.Subject(), contracts.OrderCancelledTopic.Subject()
	span := func(trace, service, kind, name, subject, msgID string) topology.Span {
		return topology.Span{TraceID: trace, Service: service, Kind: kind, Name: name, Attributes: map[string]string{
			"messaging.destination.name": subject, "messaging.message.id": msgID,
		}}
	}
	// order is the spans of a healthy order id in trace, up to the step
	// commands its outcome reaches.
	order := func(id, trace string, reserved bool, event string) []topology.Span {
		s := []topology.Span{
			span(trace, "order", "server", "POST /orders", "", ""),
			span(trace, "order", "client", "send "+charge, charge, id+"/1/0@1"),
			span(trace, "payment", "server", "process "+charge, charge, id+"/1/0@1"),
			span(trace, "notification", "consumer", "process "+event, event, "0193-event-uuid"),
		}
		if reserved {
			s = append(s, span(trace, "order", "client", "send "+reserve, reserve, id+"/2/0@1"),
				span(trace, "inventory", "server", "process "+reserve, reserve, id+"/2/0@1"))
		}
		return s
	}
	done := traceOrder{id: x, trace: tx, final: ended("COMPLETED", "")}
	tests := []struct {
		name   string
		spans  []topology.Span
		orders []traceOrder
		want   []string // what the problems of order x say, in order; nil: no problem
	}{
		{"completed", order(x, tx, true, completed), []traceOrder{done}, nil},
		{"declined: no inventory span needed", order(x, tx, false, cancelled),
			[]traceOrder{{id: x, trace: tx, final: ended("CANCELLED", "insufficient_funds")}}, nil},
		{"out of stock needs the reservation", order(x, tx, false, cancelled),
			[]traceOrder{{id: x, trace: tx, final: ended("CANCELLED", "out_of_stock")}}, []string{"lacks the inventory"}},
		{"no client trace: the one trace of the spans that carry it", order(x, tx, true, completed),
			[]traceOrder{{id: x, final: ended("COMPLETED", "")}}, nil},
		{"payment's span split off (headers lost)", append(order(x, tx, true, completed)[:2:2],
			append(order(x, tx, true, completed)[3:], span(ty, "payment", "server", "process "+charge, charge, x+"/1/0@1"))...),
			[]traceOrder{done}, []string{"split: spans that carry it are outside its trace aaaa, in bbbb: payment server", "lacks the payment"}},
		{"no client trace, split", append(order(x, tx, true, completed)[:2:2],
			append(order(x, tx, true, completed)[3:], span(ty, "payment", "server", "process "+charge, charge, x+"/1/0@1"))...),
			[]traceOrder{{id: x, final: ended("COMPLETED", "")}}, []string{"split: the spans that carry it are in 2 traces"}},
		{"the service ignored the client's trace", order(x, ty, true, completed), []traceOrder{done},
			[]string{"outside its trace aaaa", "lacks the order", "the payment", "the inventory", "the notification"}},
		{"notification in a trace of its own", append(order(x, tx, true, completed)[:3:3],
			append(order(x, tx, true, completed)[4:], span(ty, "notification", "consumer", "process "+completed, completed, "e"))...),
			[]traceOrder{done}, []string{"lacks the notification"}},
		{"POST span missing", order(x, tx, true, completed)[1:], []traceOrder{done}, []string{"lacks the order: server span of POST /orders"}},
		{"POST span lost with its SIGKILLed peer", order(x, tx, true, completed)[1:],
			[]traceOrder{{id: x, trace: tx, final: ended("COMPLETED", ""), httpMayBeLost: true}}, nil},
		{"nothing carries it", order(x, tx, true, completed)[:1], []traceOrder{done},
			[]string{"no span carries it", "lacks the payment", "the inventory", "the notification"}},
		{"another order's span in its trace", append(order(x, tx, true, completed), span(tx, "payment", "server", "process "+charge, charge, y+"/1/0@1")),
			[]traceOrder{done, {id: y, trace: ty, final: ended("COMPLETED", "")}}, []string{"holds a span of order " + y}},
		{"two healthy orders", append(order(x, tx, true, completed), order(y, ty, false, cancelled)...),
			[]traceOrder{done, {id: y, trace: ty, final: ended("CANCELLED", "insufficient_funds")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems, _ := traceProblems(tt.spans, tt.orders)
			got := strings.Join(problems[x], "\n")
			if (got == "") != (tt.want == nil) {
				t.Fatalf("problems of x: %q, want %q", got, tt.want)
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("problems of x:\n%s\nwant them to say, in order: %q (missing %q)", got, tt.want, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
	// An excused POST span is counted only when it is missing.
	mayBeLost := []traceOrder{{id: x, trace: tx, final: ended("COMPLETED", ""), httpMayBeLost: true}}
	if _, excused := traceProblems(order(x, tx, true, completed)[1:], mayBeLost); len(excused) != 1 || excused[0] != x {
		t.Errorf("POST span missing, peer killed: excused %v, want [x]", excused)
	}
	if _, excused := traceProblems(order(x, tx, true, completed), mayBeLost); len(excused) != 0 {
		t.Errorf("POST span present: excused %v, want none", excused)
	}
}

// ended is an order's end state.
func ended(state, reason string) order { return order{State: state, Reason: reason} }
