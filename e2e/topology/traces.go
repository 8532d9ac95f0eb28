package topology

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// The trace receiver (e2e/cmd/otlpsink): a container of our own on the
// topology's network, which the peers export to over OTLP/HTTP and the test
// reads through its mapped port, like every other container (see
// e2e/cmd/otlpsink for why not a receiver in the test process).
const (
	sinkName = "otlpsink"
	sinkPort = "4318/tcp"
	// Read by otlpsink's GET /v1/traces answer.
	sinkHeaderNext     = "X-Otlpsink-Next"
	sinkHeaderRejected = "X-Otlpsink-Rejected"
)

// traceEnv is what makes a peer export its spans to the receiver: the
// standard OTel variables (libs/catga/peer reads them), with a batch delay
// of 100 ms instead of 5 s so that a test waits little for the spans, and
// a queue large enough that a burst of orders loses none.
func traceEnv() map[string]string {
	return map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + sinkName + ":4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY":     "100",
		"OTEL_BSP_MAX_QUEUE_SIZE":     "65536",
		"OTEL_TRACES_SAMPLER":         "always_on",
	}
}

// startSink starts the trace receiver and waits until it answers.
func (topo *Topology) startSink(ctx context.Context, t testing.TB, nw *testcontainers.DockerNetwork) error {
	c, err := topo.run(ctx, t, nw, Image(sinkName), sinkName, testcontainers.WithExposedPorts(sinkPort))
	if err != nil {
		return err
	}
	if err := topo.waitHTTP(ctx, c, sinkPort, "/healthz", time.Minute); err != nil {
		return fmt.Errorf("not ready: %w%s", err, logTail(c))
	}
	topo.sink = c
	return nil
}

// Span is one span a peer exported, as the receiver got it.
type Span struct {
	TraceID, SpanID, ParentSpanID string // hex; ParentSpanID "" for a root
	Name                          string
	Kind                          string // server, client, producer, consumer or internal
	Service                       string // the resource's service.name
	Instance                      string // the resource's service.instance.id: the peer
	Attributes                    map[string]string
}

// Spans returns every span the peers exported so far, in arrival order.
// Each call reads only what arrived since the previous one. It fails when
// the topology runs without the receiver ([Options.NoTraces]) or when the
// receiver refused spans (it was full): a check on what is left would be
// wrong.
func (topo *Topology) Spans(ctx context.Context) ([]Span, error) {
	if topo.sink == nil {
		return nil, fmt.Errorf("topology: no trace receiver (Options.NoTraces)")
	}
	topo.spansMu.Lock()
	defer topo.spansMu.Unlock()
	endpoint, err := topo.endpoint(ctx, topo.sink, sinkPort)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/v1/traces?after="+strconv.Itoa(topo.spansNext), nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("topology: read traces: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("topology: read traces: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("topology: read traces: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if r := resp.Header.Get(sinkHeaderRejected); r != "" && r != "0" {
		return nil, fmt.Errorf("topology: the trace receiver was full and refused %s spans", r)
	}
	next, err := strconv.Atoi(resp.Header.Get(sinkHeaderNext))
	if err != nil {
		return nil, fmt.Errorf("topology: read traces: cursor %q: %w", resp.Header.Get(sinkHeaderNext), err)
	}
	var export coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &export); err != nil {
		return nil, fmt.Errorf("topology: read traces: %w", err)
	}
	for _, rs := range export.GetResourceSpans() {
		res := attributes(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				topo.spans = append(topo.spans, Span{
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
					Name:         s.GetName(), Kind: spanKind(s.GetKind()),
					Service: res["service.name"], Instance: res["service.instance.id"],
					Attributes: attributes(s.GetAttributes()),
				})
			}
		}
	}
	topo.spansNext = next
	return topo.spans[:len(topo.spans):len(topo.spans)], nil
}

func spanKind(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	default:
		return "internal"
	}
}

// attributes renders each attribute's value as a string (the checks
// compare names, subjects and ids).
func attributes(kvs []*commonpb.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.GetKey()] = strconv.FormatInt(x.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			out[kv.GetKey()] = strconv.FormatBool(x.BoolValue)
		case *commonpb.AnyValue_DoubleValue:
			out[kv.GetKey()] = strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
		default:
			out[kv.GetKey()] = v.String()
		}
	}
	return out
}
