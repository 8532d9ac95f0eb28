package ports

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/catga-go/catga/libs/catga/httpapi"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/app"
	"github.com/catga-go/catga/services/order/domain"
)

// MaxBodyBytes bounds a POST /orders body: MaxItems items fit many times
// over.
const MaxBodyBytes = 64 << 10

// HeaderIdempotencyKey makes a retried POST /orders return the first
// request's order.
const HeaderIdempotencyKey = "Idempotency-Key"

// CodeKeyReused answers a POST whose Idempotency-Key placed a different
// order.
const CodeKeyReused = "idempotency_key_reused"

// Mount mounts the order API on mux:
//
//	POST /orders        {customer, items:[{sku, quantity, unit_price}]} → 201 (200 for a retry under the same Idempotency-Key)
//	GET  /orders/{id}   the order with its saga's steps and history
//	GET  /orders        ?state=PENDING|COMPLETED|CANCELLED&limit=1..100&after=<next>
func Mount(mux *http.ServeMux, svc *app.Service, log *slog.Logger) {
	h := func(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
		return httpapi.Handler(fn, httpapi.WithLogger(log))
	}
	api := handlers{svc: svc}
	mux.Handle("POST /orders", h(api.place))
	mux.Handle("GET /orders/{id}", h(api.get))
	mux.Handle("GET /orders", h(api.list))
}

type handlers struct{ svc *app.Service }

// placeRequest is POST /orders' body.
type placeRequest struct {
	Customer string           `json:"customer"`
	Items    []contracts.Item `json:"items"`
}

func (r placeRequest) command() domain.PlaceOrder {
	return domain.PlaceOrder{Customer: r.Customer, Items: r.Items}
}

// Validate lets httpapi.Decode answer 422 naming the field.
func (r placeRequest) Validate() error {
	return fieldError(r.command().Validate(), http.StatusUnprocessableEntity)
}

func (a handlers) place(w http.ResponseWriter, r *http.Request) error {
	req, err := httpapi.Decode[placeRequest](r, MaxBodyBytes)
	if err != nil {
		return err
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	if _, sent := r.Header[HeaderIdempotencyKey]; sent {
		if err := domain.ValidateIdempotencyKey(key); err != nil {
			return fieldError(err, http.StatusBadRequest)
		}
	}
	o, created, err := a.svc.Place(r.Context(), req.command(), key)
	switch {
	case errors.Is(err, domain.ErrKeyReused):
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: CodeKeyReused, Field: HeaderIdempotencyKey,
			Message: "this Idempotency-Key already placed an order with other items; use a new key for a new order"}
	case err != nil:
		return fieldError(err, http.StatusUnprocessableEntity)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/orders/"+o.ID)
	httpapi.WriteJSON(w, status, toOrderBody(app.Detail{Order: o}))
	return nil
}

func (a handlers) get(w http.ResponseWriter, r *http.Request) error {
	d, err := a.svc.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, domain.ErrNotFound) {
		return httpapi.NotFound(fmt.Sprintf("no order %q", r.PathValue("id")))
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, toOrderBody(d))
	return nil
}

// listParams are the query parameters GET /orders takes.
var listParams = map[string]bool{"state": true, "limit": true, "after": true}

func (a handlers) list(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query()
	for name, vs := range query {
		switch {
		case !listParams[name]:
			return httpapi.BadRequest("unknown_parameter", name, fmt.Sprintf("unknown query parameter %q (want state, limit, after)", name))
		case len(vs) > 1:
			return httpapi.BadRequest(httpapi.CodeInvalid, name, fmt.Sprintf("%s given %d times", name, len(vs)))
		}
	}
	var q app.ListQuery
	if s := query.Get("state"); s != "" {
		st, ok := domain.ParseState(strings.ToUpper(s))
		if !ok {
			return httpapi.BadRequest(httpapi.CodeInvalid, "state", fmt.Sprintf("state %q: want PENDING, COMPLETED or CANCELLED", s))
		}
		q.State = st
	}
	if s := query.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > app.MaxLimit {
			return httpapi.BadRequest(httpapi.CodeInvalid, "limit", fmt.Sprintf("limit %q: want a whole number from 1 to %d", s, app.MaxLimit))
		}
		q.Limit = n
	}
	q.After = query.Get("after")
	page, err := a.svc.View().List(q)
	if err != nil {
		return fieldError(err, http.StatusBadRequest)
	}
	out := listJSON{Orders: make([]summaryJSON, len(page.Orders)), Next: page.Next}
	for i, s := range page.Orders {
		out.Orders[i] = summaryJSON{ID: s.ID, Customer: s.Customer, State: s.State, Reason: s.Reason, Total: s.Total,
			Items: s.Items, PlacedAt: s.PlacedAt, UpdatedAt: s.UpdatedAt}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// fieldError turns a domain.FieldError into an httpapi.Error with status;
// other errors pass through.
func fieldError(err error, status int) error {
	var fe *domain.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	code := httpapi.CodeInvalid
	if status != http.StatusUnprocessableEntity {
		code = fe.Code
	}
	return &httpapi.Error{Status: status, Code: code, Field: fe.Field, Message: fe.Message}
}

// The JSON of the responses.
type (
	orderBody struct {
		ID          string           `json:"id"`
		Customer    string           `json:"customer"`
		State       domain.State     `json:"state"`
		Reason      string           `json:"reason,omitempty"`
		Items       []contracts.Item `json:"items"`
		Total       int64            `json:"total"`
		PlacedAt    time.Time        `json:"placed_at"`
		CompletedAt time.Time        `json:"completed_at,omitzero"`
		CancelledAt time.Time        `json:"cancelled_at,omitzero"`
		Saga        *sagaJSON        `json:"saga,omitempty"`
	}
	sagaJSON struct {
		State saga.State `json:"state"`
		// Owner and Epoch are the lease: the peer running the saga now.
		Owner   string        `json:"owner,omitempty"`
		Epoch   uint64        `json:"epoch"`
		Error   string        `json:"error,omitempty"`
		Steps   []stepJSON    `json:"steps"`
		History []historyJSON `json:"history"`
	}
	stepJSON struct {
		Name     string `json:"name"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
		Error    string `json:"error,omitempty"`
	}
	historyJSON struct {
		At    time.Time `json:"at"`
		Step  string    `json:"step"`
		What  string    `json:"what"`
		Epoch uint64    `json:"epoch,omitempty"`
		Error string    `json:"error,omitempty"`
	}
	listJSON struct {
		Orders []summaryJSON `json:"orders"`
		Next   string        `json:"next,omitempty"`
	}
	summaryJSON struct {
		ID        string       `json:"id"`
		Customer  string       `json:"customer"`
		State     domain.State `json:"state"`
		Reason    string       `json:"reason,omitempty"`
		Total     int64        `json:"total"`
		Items     int          `json:"items"`
		PlacedAt  time.Time    `json:"placed_at"`
		UpdatedAt time.Time    `json:"updated_at"`
	}
)

func toOrderBody(d app.Detail) orderBody {
	o := d.Order
	out := orderBody{ID: o.ID, Customer: o.Customer, State: o.State, Reason: o.Reason, Items: o.Items, Total: o.Total,
		PlacedAt: o.PlacedAt, CompletedAt: o.CompletedAt, CancelledAt: o.CancelledAt}
	if rec := d.Saga; rec != nil {
		s := &sagaJSON{State: rec.State, Owner: rec.Owner, Epoch: rec.Epoch, Error: rec.Error, Steps: make([]stepJSON, len(rec.Steps)), History: make([]historyJSON, len(rec.History))}
		for i, st := range rec.Steps {
			status := string(st.Status)
			if status == "" {
				status = "pending"
			}
			s.Steps[i] = stepJSON{Name: stepName(i), Status: status, Attempts: st.Attempts, Error: st.Error}
		}
		for i, ev := range rec.History {
			s.History[i] = historyJSON{At: ev.At, Step: stepName(ev.Step), What: string(ev.What), Epoch: ev.Epoch, Error: ev.Error}
		}
		out.Saga = s
	}
	return out
}

func stepName(i int) string {
	if i >= 0 && i < len(app.StepNames) {
		return app.StepNames[i]
	}
	return strconv.Itoa(i)
}
