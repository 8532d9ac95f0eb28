package ports_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/peer/peertest"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/app"
	"github.com/catga-go/catga/services/order/ports"
)

// unreachable participants: these tests never run a saga.
type unreachable struct{}

func (unreachable) Charge(context.Context, contracts.Charge) (contracts.Charged, error) {
	panic("not called")
}
func (unreachable) Refund(context.Context, contracts.Refund) (contracts.Refunded, error) {
	panic("not called")
}
func (unreachable) Reserve(context.Context, contracts.Reserve) (contracts.Reserved, error) {
	panic("not called")
}
func (unreachable) Release(context.Context, contracts.Release) (contracts.Released, error) {
	panic("not called")
}

func server(t *testing.T) (*httptest.Server, peertest.Store) {
	t.Helper()
	reg := eventstore.NewRegistry()
	if err := app.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	store := peertest.SQLite(t, "order", reg).Store
	svc, err := app.New(store, saga.New(memory.New()), unreachable{}, unreachable{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ports.Mount(mux, svc, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, store
}

func do(t *testing.T, method, url, body string, header http.Header) (int, map[string]any) {
	t.Helper()
	status, raw := peertest.Client{Header: header}.Do(t, method, url, body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return status, out
}

func TestBadRequestsNameTheFieldAndWriteNothing(t *testing.T) {
	srv, store := server(t)
	ok := `{"customer":"alice","items":[{"sku":"x","quantity":1,"unit_price":1}]}`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		key    []string // Idempotency-Key values; nil for none
		status int
		field  string
	}{
		{"malformed JSON", "POST", "/orders", `{"customer":`, nil, 400, ""},
		{"unknown field", "POST", "/orders", `{"customer":"c","colour":"red","items":[]}`, nil, 400, "colour"},
		{"wrong type", "POST", "/orders", `{"customer":"c","items":[{"sku":"x","quantity":"1","unit_price":1}]}`, nil, 400, "items.quantity"},
		{"oversized body", "POST", "/orders", `{"customer":"` + strings.Repeat("c", ports.MaxBodyBytes) + `"}`, nil, 413, ""},
		{"no customer", "POST", "/orders", `{"items":[{"sku":"x","quantity":1,"unit_price":1}]}`, nil, 422, "customer"},
		{"empty items", "POST", "/orders", `{"customer":"c","items":[]}`, nil, 422, "items"},
		{"zero quantity", "POST", "/orders", `{"customer":"c","items":[{"sku":"x","quantity":0,"unit_price":1}]}`, nil, 422, "items[0].quantity"},
		{"negative price", "POST", "/orders", `{"customer":"c","items":[{"sku":"x","quantity":1,"unit_price":-1}]}`, nil, 422, "items[0].unit_price"},
		{"empty idempotency key", "POST", "/orders", ok, []string{""}, 400, "Idempotency-Key"},
		{"idempotency key too long", "POST", "/orders", ok, []string{strings.Repeat("k", 129)}, 400, "Idempotency-Key"},
		{"unknown order", "GET", "/orders/0b6c6d2e-8f2a-4a57-9d0b-3f4f1f0c2e11", "", nil, 404, ""},
		{"limit zero", "GET", "/orders?limit=0", "", nil, 400, "limit"},
		{"limit twice", "GET", "/orders?limit=1&limit=2", "", nil, 400, "limit"},
		{"unknown state", "GET", "/orders?state=DONE", "", nil, 400, "state"},
		{"bad cursor", "GET", "/orders?after=1-x", "", nil, 400, "after"},
		{"unknown parameter", "GET", "/orders?sort=asc", "", nil, 400, "sort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.key != nil {
				h["Idempotency-Key"] = tt.key
			}
			status, body := do(t, tt.method, srv.URL+tt.path, tt.body, h)
			e, _ := body["error"].(map[string]any)
			if status != tt.status || e == nil || e["message"] == "" {
				t.Fatalf("%d %v, want %d with an error body", status, body, tt.status)
			}
			if got, _ := e["field"].(string); got != tt.field {
				t.Fatalf("field %q (%v), want %q", got, e["message"], tt.field)
			}
		})
	}
	if recs, err := store.ReadAll(t.Context(), 0, 10); err != nil || len(recs) != 0 {
		t.Fatalf("the refused requests wrote %d events (%v)", len(recs), err)
	}
}

func TestPlaceAndRetryUnderAKey(t *testing.T) {
	srv, _ := server(t)
	body := `{"customer":"alice","items":[{"sku":"x","quantity":2,"unit_price":150}]}`
	key := http.Header{"Idempotency-Key": {"k-1"}}
	status, first := do(t, "POST", srv.URL+"/orders", body, key)
	if status != http.StatusCreated || first["state"] != "PENDING" || first["total"] != 300.0 {
		t.Fatalf("POST = %d %v", status, first)
	}
	status, again := do(t, "POST", srv.URL+"/orders", body, key)
	if status != http.StatusOK || again["id"] != first["id"] {
		t.Fatalf("retry = %d %v, want 200 and the same order", status, again)
	}
	status, reused := do(t, "POST", srv.URL+"/orders", strings.Replace(body, `"quantity":2`, `"quantity":3`, 1), key)
	e, _ := reused["error"].(map[string]any)
	if status != http.StatusUnprocessableEntity || e["code"] != ports.CodeKeyReused || e["field"] != "Idempotency-Key" {
		t.Fatalf("same key, other items = %d %v", status, reused)
	}
	status, got := do(t, "GET", srv.URL+"/orders/"+first["id"].(string), "", nil)
	if status != http.StatusOK || got["id"] != first["id"] || got["state"] != "PENDING" {
		t.Fatalf("GET = %d %v", status, got)
	}
}
