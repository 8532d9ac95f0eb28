package ports

import (
	"errors"
	"net/http"

	"github.com/catga-go/catga/libs/catga/httpapi"
	"github.com/catga-go/catga/services/payment/app"
	"github.com/catga-go/catga/services/payment/domain"
)

// maxBody bounds request bodies: the largest valid one is well under it.
const maxBody = 4 << 10

// CodeAccountExists answers POST /accounts for an id that is taken.
const CodeAccountExists = "account_exists"

// MountHTTP mounts the account API on mux:
//
//	POST /accounts                 {"id","balance"}  201 account; 409 if it exists
//	POST /accounts/{id}/deposits   {"amount"}        200 account; 404 if unknown
//	GET  /accounts/{id}                              200 account; 404 if unknown
//
// An account is {"id","balance","charges":{"<order>":{"amount","refunded"}}}.
// Errors are httpapi's JSON bodies, naming the field at fault.
func MountHTTP(mux *http.ServeMux, svc *app.Service, opts ...httpapi.HandlerOption) {
	h := httpHandlers{svc: svc}
	mux.Handle("POST /accounts", httpapi.Handler(h.open, opts...))
	mux.Handle("POST /accounts/{id}/deposits", httpapi.Handler(h.deposit, opts...))
	mux.Handle("GET /accounts/{id}", httpapi.Handler(h.get, opts...))
}

type httpHandlers struct{ svc *app.Service }

type openRequest struct {
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
}

type depositRequest struct {
	Amount int64 `json:"amount"`
}

type accountView struct {
	ID      string                `json:"id"`
	Balance int64                 `json:"balance"`
	Charges map[string]chargeView `json:"charges"`
}

type chargeView struct {
	Amount   int64 `json:"amount"`
	Refunded bool  `json:"refunded"`
}

func viewOf(a domain.Account) accountView {
	v := accountView{ID: a.ID, Balance: a.Balance, Charges: make(map[string]chargeView, len(a.Charges))}
	for order, c := range a.Charges {
		v.Charges[order] = chargeView(c)
	}
	return v
}

func (h httpHandlers) open(w http.ResponseWriter, r *http.Request) error {
	req, err := httpapi.Decode[openRequest](r, maxBody)
	if err != nil {
		return err
	}
	a, err := h.svc.Open(r.Context(), domain.OpenAccount{ID: req.ID, Balance: req.Balance})
	if err != nil {
		return httpError(err)
	}
	w.Header().Set("Location", "/accounts/"+a.ID)
	httpapi.WriteJSON(w, http.StatusCreated, viewOf(a))
	return nil
}

func (h httpHandlers) deposit(w http.ResponseWriter, r *http.Request) error {
	req, err := httpapi.Decode[depositRequest](r, maxBody)
	if err != nil {
		return err
	}
	a, err := h.svc.Deposit(r.Context(), domain.Deposit{Account: r.PathValue("id"), Amount: req.Amount})
	if err != nil {
		return httpError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, viewOf(a))
	return nil
}

func (h httpHandlers) get(w http.ResponseWriter, r *http.Request) error {
	a, err := h.svc.Account(r.Context(), r.PathValue("id"))
	if err != nil {
		return httpError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, viewOf(a))
	return nil
}

// httpError maps the domain's errors to HTTP: bad input 422 naming the
// field, an unknown account 404, a taken id 409.
func httpError(err error) error {
	var ie *domain.InvalidError
	switch {
	case errors.As(err, &ie):
		return httpapi.Invalid(ie.Field, ie.Reason)
	case errors.Is(err, domain.ErrUnknownAccount):
		return httpapi.NotFound(err.Error())
	case errors.Is(err, domain.ErrAccountExists):
		return &httpapi.Error{Status: http.StatusConflict, Code: CodeAccountExists, Message: err.Error()}
	}
	return err
}
