package ports_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
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
	"github.com/catga-go/catga/services/payment/adapters"
	"github.com/catga-go/catga/services/payment/app"
	"github.com/catga-go/catga/services/payment/ports"
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
	store := peertest.SQLite(t, "payment", reg).Store
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
		{"open", "POST", "/accounts", `{"id":"alice","balance":500}`, 201, "", ""},
		{"open again", "POST", "/accounts", `{"id":"alice","balance":1}`, 409, ports.CodeAccountExists, ""},
		{"open malformed", "POST", "/accounts", `{"id":"bob",`, 400, "malformed_json", ""},
		{"open unknown field", "POST", "/accounts", `{"id":"bob","limit":5}`, 400, "unknown_field", "limit"},
		{"open wrong type", "POST", "/accounts", `{"id":"bob","balance":"5"}`, 400, "invalid_type", "balance"},
		{"open negative", "POST", "/accounts", `{"id":"bob","balance":-5}`, 422, "invalid_request", "balance"},
		{"open without id", "POST", "/accounts", `{"balance":5}`, 422, "invalid_request", "id"},
		{"open oversized", "POST", "/accounts", `{"id":"` + strings.Repeat("b", 8<<10) + `"}`, 413, "body_too_large", ""},
		{"deposit", "POST", "/accounts/alice/deposits", `{"amount":50}`, 200, "", ""},
		{"deposit zero", "POST", "/accounts/alice/deposits", `{"amount":0}`, 422, "invalid_request", "amount"},
		{"deposit negative", "POST", "/accounts/alice/deposits", `{"amount":-1}`, 422, "invalid_request", "amount"},
		{"deposit to nobody", "POST", "/accounts/bob/deposits", `{"amount":1}`, 404, "not_found", ""},
		{"deposit empty", "POST", "/accounts/alice/deposits", ``, 400, "empty_body", ""},
		{"read", "GET", "/accounts/alice", ``, 200, "", ""},
		{"read nobody", "GET", "/accounts/bob", ``, 404, "not_found", ""},
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
	_, body := f.http.Do(t, "GET", "/accounts/alice", "")
	var got struct {
		ID      string `json:"id"`
		Balance int64  `json:"balance"`
	}
	if err := json.Unmarshal(body, &got); err != nil || got.ID != "alice" || got.Balance != 550 {
		t.Fatalf("alice: %s, want balance 550: a refused request wrote something", body)
	}
	if recs, _ := f.store.Load(t.Context(), app.Accounts.StreamID("bob"), 0); len(recs) != 0 {
		t.Fatalf("bob has %d events, want none", len(recs))
	}
}

// stepCtx carries the metadata of the payment step of saga id.
func stepCtx(ctx context.Context, id string, undo bool) context.Context {
	key := saga.ActionKey(id, 0, 1)
	if undo {
		key = saga.UndoKey(key, 0)
	}
	return catga.WithMetadata(ctx, catga.Metadata{MessageID: key + "@1", CorrelationID: id, IdempotencyKey: key, Epoch: 1})
}

func TestNATS(t *testing.T) {
	f := newFixture(t)
	if status, body := f.http.Do(t, "POST", "/accounts", `{"id":"alice","balance":100}`); status != 201 {
		t.Fatalf("open: %d %s", status, body)
	}
	ctx := t.Context()
	tests := []struct {
		name     string
		req      contracts.Charge
		wantCode string // rejection code; "bad" for a bad request
		want     contracts.Charged
	}{
		{"charged", contracts.Charge{OrderID: "o1", Customer: "alice", Amount: 60}, "", contracts.Charged{OrderID: "o1", Amount: 60, Balance: 40}},
		{"declined", contracts.Charge{OrderID: "o2", Customer: "alice", Amount: 41}, contracts.CodeInsufficientFunds, contracts.Charged{}},
		{"unknown account", contracts.Charge{OrderID: "o3", Customer: "bob", Amount: 1}, contracts.CodeUnknownAccount, contracts.Charged{}},
		{"zero amount", contracts.Charge{OrderID: "o4", Customer: "alice"}, "bad", contracts.Charged{}},
		{"no order", contracts.Charge{Customer: "alice", Amount: 1}, "bad", contracts.Charged{}},
		{"charged again, other amount", contracts.Charge{OrderID: "o1", Customer: "alice", Amount: 5}, ports.CodeChargeMismatch, contracts.Charged{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := transport.Request(stepCtx(ctx, tt.req.OrderID+tt.name, false), f.client, contracts.PaymentCharge, tt.req)
			checkWireError(t, err, tt.wantCode)
			if err == nil && got != tt.want {
				t.Fatalf("reply %+v, want %+v", got, tt.want)
			}
		})
	}
	got, err := transport.Request(stepCtx(ctx, "o1charged", true), f.client, contracts.PaymentRefund, contracts.Refund{OrderID: "o1", Customer: "alice", Amount: 60})
	if err != nil || got != (contracts.Refunded{OrderID: "o1", Amount: 60, Balance: 100}) {
		t.Fatalf("refund: %+v, %v", got, err)
	}
	_, err = transport.Request(stepCtx(ctx, "o9", true), f.client, contracts.PaymentRefund, contracts.Refund{OrderID: "o9", Customer: "alice", Amount: -1})
	checkWireError(t, err, "bad")
	// Not a saga step: no idempotency key of its own.
	_, err = transport.Request(ctx, f.client, contracts.PaymentCharge, contracts.Charge{OrderID: "o10", Customer: "alice", Amount: 1})
	checkWireError(t, err, "bad")
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
