package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/httpapi"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/transport"
)

type item struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

type placeOrder struct {
	Customer string `json:"customer"`
	Items    []item `json:"items"`
}

func (p *placeOrder) Validate() error {
	if p.Customer == "" {
		return httpapi.Invalid("customer", "customer is required")
	}
	for i, it := range p.Items {
		if it.Quantity <= 0 {
			return httpapi.Invalid(fmt.Sprintf("items[%d].quantity", i), "quantity must be positive")
		}
	}
	return nil
}

type body struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// serve decodes the request through Handler and returns status and body.
func serve(t *testing.T, h http.Handler, reqBody string) (int, body) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(reqBody)))
	var b body
	if rec.Code != http.StatusCreated {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
			t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
		}
	}
	return rec.Code, b
}

func TestDecode(t *testing.T) {
	h := httpapi.Handler(func(w http.ResponseWriter, r *http.Request) error {
		req, err := httpapi.Decode[placeOrder](r, 128)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusCreated, req)
		return nil
	})
	tests := []struct {
		name      string
		body      string
		wantCode  int
		wantError string // error.code
		wantField string
	}{
		{"valid", `{"customer":"c1","items":[{"sku":"a","quantity":2}]}`, 201, "", ""},
		{"malformed", `{"customer":`, 400, httpapi.CodeMalformed, ""},
		{"syntax error", `{"customer" "c1"}`, 400, httpapi.CodeMalformed, ""},
		{"not an object", `[1,2]`, 400, httpapi.CodeInvalidType, ""},
		{"empty", ``, 400, httpapi.CodeEmptyBody, ""},
		{"unknown field", `{"customer":"c1","colour":"red"}`, 400, httpapi.CodeUnknownField, "colour"},
		{"unknown nested field", `{"customer":"c1","items":[{"sku":"a","qty":1}]}`, 400, httpapi.CodeUnknownField, "qty"},
		{"wrong type", `{"customer":"c1","items":[{"sku":"a","quantity":"2"}]}`, 400, httpapi.CodeInvalidType, "items.quantity"},
		{"trailing data", `{"customer":"c1"} {"customer":"c2"}`, 400, httpapi.CodeMalformed, ""},
		{"trailing garbage", `{"customer":"c1"} x`, 400, httpapi.CodeMalformed, ""},
		{"too large", `{"customer":"` + strings.Repeat("x", 200) + `"}`, 413, httpapi.CodeTooLarge, ""},
		{"too large after a value", `{"customer":"c1"}` + strings.Repeat(" ", 200), 413, httpapi.CodeTooLarge, ""},
		{"validation fails", `{"customer":"c1","items":[{"sku":"a","quantity":0}]}`, 422, httpapi.CodeInvalid, "items[0].quantity"},
		{"validation of a missing field", `{}`, 422, httpapi.CodeInvalid, "customer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := serve(t, h, tt.body)
			if code != tt.wantCode || b.Error.Code != tt.wantError || b.Error.Field != tt.wantField {
				t.Fatalf("got %d %+v, want %d code %q field %q", code, b.Error, tt.wantCode, tt.wantError, tt.wantField)
			}
			if code != 201 && b.Error.Message == "" {
				t.Error("error without a message")
			}
		})
	}
}

func TestHandlerMapsErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		opts      []httpapi.HandlerOption
		wantCode  int
		wantError string
		secret    string // must not reach the client
	}{
		{"httpapi error", httpapi.BadRequest("bad_thing", "x", "no"), nil, 400, "bad_thing", ""},
		{"wrapped httpapi error", fmt.Errorf("ctx: %w", httpapi.NotFound("no order o1")), nil, 404, httpapi.CodeNotFound, ""},
		{"rejection", fmt.Errorf("charge: %w", catga.Reject("insufficient_funds", "balance 3 < 5")), nil, 409, "insufficient_funds", ""},
		{"rejection with chosen status", catga.Reject("unknown_account", "no account"),
			[]httpapi.HandlerOption{httpapi.WithRejectionStatus(func(code string) int {
				if code == "unknown_account" {
					return http.StatusUnprocessableEntity
				}
				return http.StatusConflict
			})}, 422, "unknown_account", ""},
		{"mediator validation", &mediator.ValidationError{Type: "Charge", Err: httpapi.Invalid("amount", "must be positive")}, nil, 422, httpapi.CodeInvalid, ""},
		{"not found sentinel", fmt.Errorf("order o1: %w", httpapi.ErrNotFound), nil, 404, httpapi.CodeNotFound, ""},
		{"saga not found", fmt.Errorf("get: %w", sagastore.ErrNotFound), nil, 404, httpapi.CodeNotFound, ""},
		{"conflict", fmt.Errorf("5 attempts: %w", &eventstore.ConflictError{StreamID: "s"}), nil, 409, httpapi.CodeConflict, ""},
		{"no responders", fmt.Errorf("request: %w", transport.ErrNoResponders), nil, 503, httpapi.CodeUnavailable, ""},
		{"internal", errors.New("dial tcp 10.0.0.7:5432: connection refused"), nil, 500, httpapi.CodeInternal, "10.0.0.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := httpapi.Handler(func(http.ResponseWriter, *http.Request) error { return tt.err }, tt.opts...)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
			var b body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.wantCode || b.Error.Code != tt.wantError {
				t.Fatalf("got %d %+v, want %d %q", rec.Code, b.Error, tt.wantCode, tt.wantError)
			}
			if tt.secret != "" && strings.Contains(rec.Body.String(), tt.secret) {
				t.Fatalf("body %q leaks %q", rec.Body, tt.secret)
			}
		})
	}
}

func TestHandlerRecoversPanics(t *testing.T) {
	h := httpapi.Handler(func(http.ResponseWriter, *http.Request) error { panic("boom") })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("got %d %q, want a 500 that does not say what panicked", rec.Code, rec.Body)
	}
}
