package ports_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/peer/peertest"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/inventory/adapters"
	"github.com/catga-go/catga/services/inventory/app"
	"github.com/catga-go/catga/services/inventory/domain"
	"github.com/catga-go/catga/services/inventory/ports"
)

type fixture struct {
	store  peertest.Store
	http   peertest.Client
	client transport.Transport
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	reg := eventstore.NewRegistry()
	if err := adapters.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	store := peertest.SQLite(t, "inventory", reg).Store
	fence, err := storefence.New(store)
	if err != nil {
		t.Fatal(err)
	}
	svc := app.New(store, fence)
	p := peertest.ServePorts(t,
		func(mux *http.ServeMux) { ports.MountHTTP(mux, svc) },
		func(tr transport.Transport, m *mediator.Mediator) error { return ports.ServeNATS(tr, m, svc) })
	return fixture{store: store, http: p.HTTP, client: p.NATS}
}

type errorBody struct {
	Error struct {
		Code, Message, Field string
	} `json:"error"`
}

func TestHTTP(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		method     string
		path, body string
		wantStatus int
		wantCode   string // of the error body; "" for a success
		wantField  string
	}{
		{"add", "POST", "/stock/apple", `{"quantity":5}`, 200, "", ""},
		{"add more", "POST", "/stock/apple", `{"quantity":2}`, 200, "", ""},
		{"add zero", "POST", "/stock/apple", `{"quantity":0}`, 422, "invalid_request", "quantity"},
		{"add negative", "POST", "/stock/apple", `{"quantity":-3}`, 422, "invalid_request", "quantity"},
		{"add malformed", "POST", "/stock/apple", `{"quantity":`, 400, "malformed_json", ""},
		{"add unknown field", "POST", "/stock/apple", `{"quantity":1,"qty":1}`, 400, "unknown_field", "qty"},
		{"add wrong type", "POST", "/stock/apple", `{"quantity":1.5}`, 400, "invalid_type", "quantity"},
		{"add oversized", "POST", "/stock/apple", `{"quantity":1` + strings.Repeat(" ", 8<<10) + `}`, 413, "body_too_large", ""},
		{"add bad sku", "POST", "/stock/a%20b", `{"quantity":1}`, 422, "invalid_request", "sku"},
		{"read", "GET", "/stock/apple", ``, 200, "", ""},
		{"read unknown", "GET", "/stock/pear", ``, 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.http.Do(t, tt.method, tt.path, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", status, tt.wantStatus, body)
			}
			if tt.wantCode == "" {
				return
			}
			var e errorBody
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.wantCode || e.Error.Field != tt.wantField {
				t.Fatalf("body %s, want code %q field %q", body, tt.wantCode, tt.wantField)
			}
		})
	}
	_, body := f.http.Do(t, "GET", "/stock/apple", "")
	want := `{"sku":"apple","on_hand":7,"reserved":0,"available":7}`
	if strings.TrimSpace(string(body)) != want {
		t.Fatalf("apple: %s, want %s: a refused request wrote something", body, want)
	}
}

// stepCtx carries the metadata of the inventory step of saga id.
func stepCtx(ctx context.Context, id string, undo bool) context.Context {
	key := saga.ActionKey(id, 1, 1)
	if undo {
		key = saga.UndoKey(key, 0)
	}
	return catga.WithMetadata(ctx, catga.Metadata{MessageID: key + "@1", CorrelationID: id, IdempotencyKey: key, Epoch: 1})
}

func TestNATS(t *testing.T) {
	f := newFixture(t)
	for _, sku := range []string{"apple", "pear"} {
		if status, body := f.http.Do(t, "POST", "/stock/"+sku, `{"quantity":3}`); status != 200 {
			t.Fatalf("add %s: %d %s", sku, status, body)
		}
	}
	ctx := t.Context()
	line := func(sku string, q int64) contracts.Line { return contracts.Line{SKU: sku, Quantity: q} }
	tests := []struct {
		name     string
		req      contracts.Reserve
		wantCode string // rejection code; "bad" for a bad request
	}{
		{"out of stock", contracts.Reserve{OrderID: "o1", Lines: []contracts.Line{line("apple", 1), line("pear", 4)}}, contracts.CodeOutOfStock},
		{"unknown sku", contracts.Reserve{OrderID: "o2", Lines: []contracts.Line{line("kiwi", 1)}}, contracts.CodeUnknownSKU},
		{"zero quantity", contracts.Reserve{OrderID: "o3", Lines: []contracts.Line{line("apple", 0)}}, "bad"},
		{"no lines", contracts.Reserve{OrderID: "o4"}, "bad"},
		{"bad sku", contracts.Reserve{OrderID: "o5", Lines: []contracts.Line{line("", 1)}}, "bad"},
		{"reserved", contracts.Reserve{OrderID: "o6", Lines: []contracts.Line{line("apple", 2), line("pear", 3)}}, ""},
		{"reserved again, other lines", contracts.Reserve{OrderID: "o6", Lines: []contracts.Line{line("apple", 1)}}, ports.CodeReservationMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := transport.Request(stepCtx(ctx, tt.req.OrderID+tt.name, false), f.client, contracts.InventoryReserve, tt.req)
			checkWireError(t, err, tt.wantCode)
			if err == nil && got.OrderID != tt.req.OrderID {
				t.Fatalf("reply %+v", got)
			}
		})
	}
	got, err := transport.Request(stepCtx(ctx, "o6reserved", true), f.client, contracts.InventoryRelease, contracts.Release{OrderID: "o6"})
	want := contracts.Released{OrderID: "o6", Lines: []contracts.Line{line("apple", 2), line("pear", 3)}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("release: %+v, %v; want %+v", got, err, want)
	}
	_, err = transport.Request(stepCtx(ctx, "o7", true), f.client, contracts.InventoryRelease, contracts.Release{})
	checkWireError(t, err, "bad")
	// Not a saga step: no idempotency key of its own.
	_, err = transport.Request(ctx, f.client, contracts.InventoryRelease, contracts.Release{OrderID: "o6"})
	checkWireError(t, err, "bad")
	for _, sku := range []string{"apple", "pear"} {
		recs, err := f.store.Load(ctx, domain.StockID(sku), 0)
		if err != nil || len(recs) != 3 {
			t.Fatalf("%s: %d events (%v), want 3: added, reserved and released by o6 only", sku, len(recs), err)
		}
	}
}

// checkWireError checks err is the rejection code, a bad request ("bad"),
// or nil ("").
func checkWireError(t *testing.T, err error, code string) {
	t.Helper()
	var rej *catga.RejectionError
	var remote *transport.RemoteError
	switch {
	case code == "" && err != nil:
		t.Fatalf("unexpected error %v", err)
	case code == "bad" && (!errors.As(err, &remote) || remote.Status != transport.StatusBadRequest):
		t.Fatalf("err = %v, want a bad request", err)
	case code != "" && code != "bad" && (!errors.As(err, &rej) || rej.Code != code):
		t.Fatalf("err = %v, want rejection %q", err, code)
	}
}
