package peer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga/peer"
)

// lockedBuffer collects a peer's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestOneTrace follows a request through the chassis: the HTTP server span
// (named by its route) and the span of the inbox consumer of the event it
// appended (across the outbox and NATS) share one trace, and a log line
// written while handling a request carries its trace and span ids.
func TestOneTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var logs lockedBuffer
	srv := startNATS(t)
	svc := widgets()
	setup := svc.Setup
	svc.Setup = func(ctx context.Context, p *peer.Peer) error {
		p.HTTP.HandleFunc("POST /logged/{id}", func(w http.ResponseWriter, r *http.Request) {
			p.Logger.InfoContext(r.Context(), "logged", "id", r.PathValue("id"))
		})
		return setup(ctx, p)
	}
	s := startPeer(t, sqliteConfig(t, srv), svc, peer.WithTracerProvider(tp), peer.WithLogger(peer.NewLogger(&logs, slog.LevelInfo)))

	if code, body := post(t, s.url+"/widgets/w7"); code != http.StatusCreated {
		t.Fatalf("POST = %d %s", code, body)
	}
	eventually(t, "WidgetMade consumed", func() bool {
		_, body := get(t, s.url+"/seen/w7")
		return body == "1"
	})
	var server trace.SpanContext
	for _, sp := range rec.Ended() {
		if sp.Name() == "POST /widgets/{id}" && sp.SpanKind() == trace.SpanKindServer {
			server = sp.SpanContext()
		}
	}
	if !server.IsValid() {
		t.Fatalf("no server span named by the route among %s", names(rec.Ended()))
	}
	kinds := map[trace.SpanKind]bool{}
	eventually(t, "the consumer's span in the request's trace", func() bool {
		for _, sp := range rec.Ended() {
			if sp.SpanContext().TraceID() == server.TraceID() {
				kinds[sp.SpanKind()] = true
			}
		}
		return kinds[trace.SpanKindConsumer]
	})

	post(t, s.url+"/logged/x")
	var line struct {
		Msg     string `json:"msg"`
		TraceID string `json:"trace_id"`
		SpanID  string `json:"span_id"`
	}
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, `"msg":"logged"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	var logged trace.SpanContext
	for _, sp := range rec.Ended() {
		if sp.Name() == "POST /logged/{id}" {
			logged = sp.SpanContext()
		}
	}
	if line.Msg == "" || line.TraceID != logged.TraceID().String() || line.SpanID != logged.SpanID().String() {
		t.Fatalf("log line %+v does not carry the request's span %v\n%s", line, logged, logs.String())
	}
}

func names(spans []sdktrace.ReadOnlySpan) string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name()+" ("+s.SpanKind().String()+", trace "+s.SpanContext().TraceID().String()+")")
	}
	return strings.Join(out, ", ")
}
