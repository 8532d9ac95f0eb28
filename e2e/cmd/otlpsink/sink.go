package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// maxBody bounds one export request, compressed and decompressed.
const maxBody = 32 << 20

// Headers of the GET /v1/traces answer.
const (
	// HeaderNext is the cursor of the next read: pass it as ?after=.
	HeaderNext = "X-Otlpsink-Next"
	// HeaderRejected counts the spans refused because the sink was full.
	HeaderRejected = "X-Otlpsink-Rejected"
)

// sink keeps every ResourceSpans it receives, in arrival order.
//
//	POST /v1/traces           an OTLP/HTTP export in protobuf (what the Go
//	                          SDK's exporter sends; gzip allowed). OTLP/JSON
//	                          is refused: its hex ids are not protojson's
//	                          encoding, and no peer sends it
//	GET  /v1/traces?after=N   an ExportTraceServiceRequest (protobuf) of the
//	                          ResourceSpans received from the N-th on; the
//	                          X-Otlpsink-Next header is the next N
//	GET  /healthz             200
type sink struct {
	maxSpans int

	mu       sync.Mutex
	received []*tracepb.ResourceSpans
	spans    int
	rejected int64
}

func newSink(maxSpans int) *sink { return &sink{maxSpans: maxSpans} }

func (s *sink) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", s.export)
	mux.HandleFunc("GET /v1/traces", s.read)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

// export stores one export request. A request that does not decode is
// answered 400 (the exporter drops it: retrying cannot help); a full sink
// answers with a partial success rejecting every span of the request.
func (s *sink) export(w http.ResponseWriter, r *http.Request) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-protobuf" {
		http.Error(w, fmt.Sprintf("otlpsink: content type %q: want application/x-protobuf", r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return
	}
	body, err := readBody(r)
	if err != nil {
		http.Error(w, "otlpsink: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, "otlpsink: decode ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	resp := &coltracepb.ExportTraceServiceResponse{}
	if n := s.add(req.GetResourceSpans()); n > 0 {
		resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{
			RejectedSpans: n, ErrorMessage: fmt.Sprintf("otlpsink: full (%d spans kept)", s.maxSpans),
		}
	}
	out, err := proto.Marshal(resp)
	if err != nil {
		http.Error(w, "otlpsink: encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(out)
}

// add keeps rss unless that would pass maxSpans; it returns the number of
// spans rejected.
func (s *sink) add(rss []*tracepb.ResourceSpans) int64 {
	n := 0
	for _, rs := range rss {
		for _, ss := range rs.GetScopeSpans() {
			n += len(ss.GetSpans())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spans+n > s.maxSpans {
		s.rejected += int64(n)
		return int64(n)
	}
	s.received = append(s.received, rss...)
	s.spans += n
	return 0
}

// read answers the ResourceSpans received from ?after= on.
func (s *sink) read(w http.ResponseWriter, r *http.Request) {
	after := 0
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("otlpsink: after=%q: want a cursor (a count ≥ 0)", v), http.StatusBadRequest)
			return
		}
		after = n
	}
	s.mu.Lock()
	next, rejected := len(s.received), s.rejected
	var rss []*tracepb.ResourceSpans
	if after < next {
		rss = s.received[after:next:next] // stored messages are never modified: safe to marshal unlocked
	}
	s.mu.Unlock()
	out, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rss})
	if err != nil {
		http.Error(w, "otlpsink: encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set(HeaderNext, strconv.Itoa(max(next, after)))
	w.Header().Set(HeaderRejected, strconv.FormatInt(rejected, 10))
	_, _ = w.Write(out)
}

// readBody reads r's body, gunzipped when so encoded, up to maxBody bytes.
func readBody(r *http.Request) ([]byte, error) {
	in := io.LimitReader(r.Body, maxBody+1)
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(in)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer func() { _ = gz.Close() }()
		in = gz
	default:
		return nil, fmt.Errorf("content encoding %q: want gzip or none", enc)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(in, maxBody+1)); err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if b.Len() > maxBody {
		return nil, errors.New("body larger than " + strconv.Itoa(maxBody) + " bytes")
	}
	return b.Bytes(), nil
}
