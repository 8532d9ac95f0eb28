package ports

import (
	"errors"
	"net/http"

	"github.com/catga-go/catga/libs/catga/httpapi"
	"github.com/catga-go/catga/services/inventory/app"
	"github.com/catga-go/catga/services/inventory/domain"
)

// maxBody bounds request bodies: the largest valid one is well under it.
const maxBody = 4 << 10

// MountHTTP mounts the stock API on mux:
//
//	POST /stock/{sku}  {"quantity"}  200 stock (adds to what is on hand)
//	GET  /stock/{sku}                200 stock; 404 if never stocked
//
// Stock is {"sku","on_hand","reserved","available"}. Errors are httpapi's
// JSON bodies, naming the field at fault.
func MountHTTP(mux *http.ServeMux, svc *app.Service, opts ...httpapi.HandlerOption) {
	h := httpHandlers{svc: svc}
	mux.Handle("POST /stock/{sku}", httpapi.Handler(h.add, opts...))
	mux.Handle("GET /stock/{sku}", httpapi.Handler(h.get, opts...))
}

type httpHandlers struct{ svc *app.Service }

type addRequest struct {
	Quantity int64 `json:"quantity"`
}

type stockView struct {
	SKU       string `json:"sku"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

func viewOf(sku string, s domain.Stock) stockView {
	return stockView{SKU: sku, OnHand: s.OnHand, Reserved: s.Reserved, Available: s.Available()}
}

func (h httpHandlers) add(w http.ResponseWriter, r *http.Request) error {
	req, err := httpapi.Decode[addRequest](r, maxBody)
	if err != nil {
		return err
	}
	sku := r.PathValue("sku")
	s, err := h.svc.Add(r.Context(), domain.AddStock{SKU: sku, Quantity: req.Quantity})
	if err != nil {
		return httpError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, viewOf(sku, s))
	return nil
}

func (h httpHandlers) get(w http.ResponseWriter, r *http.Request) error {
	sku := r.PathValue("sku")
	s, err := h.svc.Stock(r.Context(), sku)
	if err != nil {
		return httpError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, viewOf(sku, s))
	return nil
}

// httpError maps the domain's errors to HTTP: bad input 422 naming the
// field, an unknown SKU 404.
func httpError(err error) error {
	var ie *domain.InvalidError
	switch {
	case errors.As(err, &ie):
		return httpapi.Invalid(ie.Field, ie.Reason)
	case errors.Is(err, domain.ErrUnknownSKU):
		return httpapi.NotFound(err.Error())
	}
	return err
}
