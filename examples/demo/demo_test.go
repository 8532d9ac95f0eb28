package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stuckPlatform answers like the services, except that every order stays
// PENDING.
func stuckPlatform() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("POST /stock/{sku}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": "o-" + r.Header.Get("Idempotency-Key")[:6], "state": statePending})
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"id": r.PathValue("id"), "state": statePending})
	})
	return httptest.NewServer(mux)
}

// TestOrderWithoutOutcomeFails: an order that stays PENDING past the
// timeout makes the demo fail, showing which one.
func TestOrderWithoutOutcomeFails(t *testing.T) {
	srv := stuckPlatform()
	defer srv.Close()
	var out bytes.Buffer
	d := demo{gw: gateways{order: srv.URL, payment: srv.URL, inventory: srv.URL}, c: client{http: srv.Client()}, out: &out}
	start := time.Now()
	err := d.run(context.Background(), 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no outcome") {
		t.Fatalf("run = %v, want an error naming an order without an outcome\n%s", err, out.String())
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("run took %s with a 300ms timeout", time.Since(start))
	}
	if !strings.Contains(out.String(), "PENDING (no outcome in time)") || strings.Contains(out.String(), "curl") {
		t.Fatalf("output does not show the pending orders (or shows the curl example):\n%s", out.String())
	}
}

func TestMoney(t *testing.T) {
	tests := []struct {
		name  string
		cents int64
		want  string
	}{{"zero", 0, "$0.00"}, {"cents", 5, "$0.05"}, {"dollars", 4500, "$45.00"}, {"negative", -450, "-$4.50"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := money(tt.cents); got != tt.want {
				t.Fatalf("money(%d) = %s, want %s", tt.cents, got, tt.want)
			}
		})
	}
}
