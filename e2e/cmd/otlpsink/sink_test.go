package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// dump reads GET /v1/traces?after=after and returns the span names and the
// next cursor.
func dump(t *testing.T, url string, after int) ([]string, int) {
	t.Helper()
	resp, err := http.Get(url + "/v1/traces?after=" + strconv.Itoa(after))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/traces: %d %s", resp.StatusCode, b)
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				names = append(names, s.GetName())
			}
		}
	}
	next, err := strconv.Atoi(resp.Header.Get(HeaderNext))
	if err != nil {
		t.Fatalf("%s: %v", HeaderNext, err)
	}
	return names, next
}

// TestSinkReceivesTheOTelExporter exports spans with the OTel SDK's own
// OTLP/HTTP exporter (gzip on and off) and reads them back, in pages.
func TestSinkReceivesTheOTelExporter(t *testing.T) {
	srv := httptest.NewServer(newSink(100).handler())
	defer srv.Close()
	ctx := context.Background()
	export := func(compression otlptracehttp.Compression, names ...string) {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"), otlptracehttp.WithCompression(compression))
		if err != nil {
			t.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		for _, n := range names {
			_, span := tp.Tracer("test").Start(ctx, n)
			span.End()
		}
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatalf("export: %v", err)
		}
	}
	export(otlptracehttp.GzipCompression, "a", "b")
	got, next := dump(t, srv.URL, 0)
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("spans %v, want a,b", got)
	}
	export(otlptracehttp.NoCompression, "c")
	if got, _ := dump(t, srv.URL, next); strings.Join(got, ",") != "c" {
		t.Fatalf("spans after %d: %v, want c", next, got)
	}
	if got, _ := dump(t, srv.URL, 0); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("all spans: %v, want a,b,c", got)
	}
}

// TestSinkRefusesWhatItCannotRead: bad requests get a clear 4xx, never a
// panic, and a full sink rejects (and counts) instead of growing.
func TestSinkRefusesWhatItCannotRead(t *testing.T) {
	oneSpan, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "x"}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, contentType, encoding string
		body                                      []byte
		status                                    int
		answer                                    string // in the body
	}{
		{"text", "POST", "/v1/traces", "text/plain", "", oneSpan, http.StatusUnsupportedMediaType, "content type"},
		{"garbage protobuf", "POST", "/v1/traces", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest, "decode"},
		{"json", "POST", "/v1/traces", "application/json", "", []byte(`{"resourceSpans":[]}`), http.StatusUnsupportedMediaType, "content type"},
		{"not gzip", "POST", "/v1/traces", "application/x-protobuf", "gzip", oneSpan, http.StatusBadRequest, "gzip"},
		{"unknown encoding", "POST", "/v1/traces", "application/x-protobuf", "br", oneSpan, http.StatusBadRequest, "encoding"},
		{"bad cursor", "GET", "/v1/traces?after=-1", "", "", nil, http.StatusBadRequest, "cursor"},
		{"accepted", "POST", "/v1/traces", "application/x-protobuf", "", oneSpan, http.StatusOK, ""},
		{"accepted again", "POST", "/v1/traces", "application/x-protobuf", "", oneSpan, http.StatusOK, ""},
		{"full", "POST", "/v1/traces", "application/x-protobuf", "", oneSpan, http.StatusOK, "full"},
	}
	srv := httptest.NewServer(newSink(2).handler())
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.answer) {
				t.Fatalf("%d %q, want %d containing %q", resp.StatusCode, b, tt.status, tt.answer)
			}
		})
	}
	if got, _ := dump(t, srv.URL, 0); strings.Join(got, ",") != "x,x" {
		t.Fatalf("kept %v, want x,x", got)
	}
	resp, err := http.Get(srv.URL + "/v1/traces")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Get(HeaderRejected); got != "1" {
		t.Fatalf("%s = %q, want 1", HeaderRejected, got)
	}
}
