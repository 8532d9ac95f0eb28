package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/libs/contracts"
	inventory "github.com/catga-go/catga/services/inventory/service"
	notification "github.com/catga-go/catga/services/notification/service"
	order "github.com/catga-go/catga/services/order/service"
	payment "github.com/catga-go/catga/services/payment/service"
)

// TestOneTracePerOrder runs one peer of each service in this process, all
// tracing into one in-memory recorder, places an order over HTTP and
// follows it: the HTTP request, the saga's step calls, each step's command
// (client span at the order peer, server span at the participant), the
// outbox publications and the notification's consumption are one trace,
// with the span kinds and OTel messaging attributes each should have.
func TestOneTracePerOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server and four peers; skipped in -short mode")
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	srv, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	urls := map[string]string{}
	for _, svc := range []peer.Service{order.New(), payment.New(), inventory.New(), notification.New()} {
		urls[svc.Name] = runPeer(t, srv.ClientURL(), svc, tp)
	}

	postJSON(t, urls["payment"]+"/accounts", map[string]any{"id": "ada", "balance": 100_00}, http.StatusCreated)
	postJSON(t, urls["inventory"]+"/stock/tea", map[string]any{"quantity": 10}, http.StatusOK)
	var placed struct{ ID string }
	resp := postJSON(t, urls["order"]+"/orders", map[string]any{
		"customer": "ada", "items": []contracts.Item{{SKU: "tea", Quantity: 2, UnitPrice: 4_50}},
	}, http.StatusCreated)
	if err := json.Unmarshal(resp, &placed); err != nil || placed.ID == "" {
		t.Fatalf("POST /orders answer %s: %v", resp, err)
	}

	// The order's trace is the one of its POST's server span.
	var traceID trace.TraceID
	for _, s := range rec.Ended() {
		if s.Name() == "POST /orders" && s.SpanKind() == trace.SpanKindServer {
			traceID = s.SpanContext().TraceID()
		}
	}
	if !traceID.IsValid() {
		t.Fatalf("no server span POST /orders among %s", spanList(rec.Ended()))
	}

	// Each span the trace must hold: what it is, and how to recognise it.
	type want struct {
		what  string
		kind  trace.SpanKind
		match func(s sdktrace.ReadOnlySpan) bool
	}
	named := func(name string) func(sdktrace.ReadOnlySpan) bool {
		return func(s sdktrace.ReadOnlySpan) bool { return s.Name() == name }
	}
	msg := func(subject string) func(sdktrace.ReadOnlySpan) bool {
		return func(s sdktrace.ReadOnlySpan) bool {
			a := attrs(s)
			return a["messaging.system"] == "nats" && a["messaging.destination.name"] == subject
		}
	}
	prefixed := func(p string) func(sdktrace.ReadOnlySpan) bool {
		return func(s sdktrace.ReadOnlySpan) bool { return strings.HasPrefix(s.Name(), p) }
	}
	wants := []want{
		{"order: the HTTP request", trace.SpanKindServer, named("POST /orders")},
		{"order: the order.placed event published", trace.SpanKindProducer, msg("catga.evt.order.placed")},
		{"order: order.placed consumed (the saga starts)", trace.SpanKindConsumer, msg("catga.evt.order.placed")},
		{"order: the saga's step calls", trace.SpanKindInternal, prefixed("order saga ")},
		{"order: the charge command sent", trace.SpanKindClient, msg(contracts.PaymentCharge.Subject())},
		{"payment: the charge command served", trace.SpanKindServer, msg(contracts.PaymentCharge.Subject())},
		{"order: the reserve command sent", trace.SpanKindClient, msg(contracts.InventoryReserve.Subject())},
		{"inventory: the reserve command served", trace.SpanKindServer, msg(contracts.InventoryReserve.Subject())},
		{"order: the outbox publication of order.completed", trace.SpanKindProducer, msg("catga.evt.order.completed")},
		{"notification: order.completed consumed", trace.SpanKindConsumer, msg("catga.evt.order.completed")},
	}
	missing := func() []string {
		var out []string
		inTrace := rec.Ended()
		for _, w := range wants {
			found := false
			for _, s := range inTrace {
				if s.SpanContext().TraceID() == traceID && s.SpanKind() == w.kind && w.match(s) {
					found = true
					break
				}
			}
			if !found {
				out = append(out, fmt.Sprintf("%s (%s)", w.what, w.kind))
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if m := missing(); len(m) > 0 {
		var in []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == traceID {
				in = append(in, s)
			}
		}
		t.Fatalf("the order's trace lacks:\n  %s\nit holds:\n  %s", strings.Join(m, "\n  "), spanList(in))
	}
}

// runPeer runs a peer of svc in this process until the test ends and
// returns its base URL.
func runPeer(t *testing.T, natsURL string, svc peer.Service, tp trace.TracerProvider) string {
	t.Helper()
	cfg := peer.Config{
		Service: svc.Name, NATSURLs: []string{natsURL}, HTTPAddr: "127.0.0.1:0",
		SQLitePath: filepath.Join(t.TempDir(), svc.Name+".db"), ShutdownTimeout: 10 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- peer.Run(ctx, cfg, svc, peer.WithTracerProvider(tp), peer.WithReady(func(p *peer.Peer) {
			ready <- "http://" + p.Addr().String()
		}))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s peer: %v", svc.Name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s peer did not stop within 20s", svc.Name)
		}
	})
	select {
	case url := <-ready:
		return url
	case err := <-done:
		t.Fatalf("%s peer: %v", svc.Name, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s peer not ready within 30s", svc.Name)
	}
	return ""
}

// postJSON POSTs body and checks the answer's status; it returns the answer.
func postJSON(t *testing.T, url string, body any, status int) []byte {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("POST %s = %d %s, want %d", url, resp.StatusCode, out.String(), status)
	}
	return out.Bytes()
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	out := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value.String()
	}
	return out
}

func spanList(spans []sdktrace.ReadOnlySpan) string {
	var out []string
	for _, s := range spans {
		a := attrs(s)
		out = append(out, fmt.Sprintf("%s [%s] %s %s", s.Name(), s.SpanKind(), a["messaging.destination.name"], s.SpanContext().TraceID()))
	}
	return strings.Join(out, "\n  ")
}
