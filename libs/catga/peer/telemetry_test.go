package peer_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestOTLPExport runs a peer with the standard OTLP variables pointing at
// a collector stand-in: the request's spans reach it, flushed at shutdown,
// under the service's name or OTEL_SERVICE_NAME's.
func TestOTLPExport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	tests := []struct{ name, serviceName, want string }{
		{"service name from the peer", "", "widgets"},
		{"OTEL_SERVICE_NAME wins", "widgets-eu", "widgets-eu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var payloads [][]byte
			collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if r.URL.Path == "/v1/traces" {
					mu.Lock()
					payloads = append(payloads, b)
					mu.Unlock()
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer collector.Close()
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
			t.Setenv("OTEL_SERVICE_NAME", tt.serviceName)

			srv := startNATS(t)
			s := startPeer(t, sqliteConfig(t, srv), widgets())
			if code, body := post(t, s.url+"/widgets/w1"); code != http.StatusCreated {
				t.Fatalf("POST = %d %s", code, body)
			}
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			all := bytes.Join(payloads, nil)
			if !bytes.Contains(all, []byte("POST /widgets/{id}")) {
				t.Fatalf("the collector got no span of the request (%d exports)", len(payloads))
			}
			// The resource attribute service.name as OTLP's protobuf encodes
			// it: KeyValue{key, value: AnyValue{string_value}}.
			attr := append([]byte("service.name"), 0x12, byte(len(tt.want)+2), 0x0a, byte(len(tt.want)))
			if !bytes.Contains(all, append(attr, tt.want...)) {
				t.Fatalf("the spans' resource does not say service.name=%q", tt.want)
			}
		})
	}
}
