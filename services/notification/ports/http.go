package ports

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/catga-go/catga/libs/catga/httpapi"
	"github.com/catga-go/catga/services/notification/app"
	"github.com/catga-go/catga/services/notification/domain"
)

// maxOrderID bounds the order parameter (order ids are UUIDs).
const maxOrderID = 128

// Mount mounts the notification API on mux:
//
//	GET /notifications?order=<id>   the notifications recorded for the order, oldest first
func Mount(mux *http.ServeMux, svc *app.Service, log *slog.Logger) {
	mux.Handle("GET /notifications", httpapi.Handler(func(w http.ResponseWriter, r *http.Request) error {
		query := r.URL.Query()
		for name := range query {
			if name != "order" {
				return httpapi.BadRequest("unknown_parameter", name, fmt.Sprintf("unknown query parameter %q (want order)", name))
			}
		}
		order := query.Get("order")
		switch {
		case order == "":
			return httpapi.BadRequest(httpapi.CodeInvalid, "order", "order is required: GET /notifications?order=<order id>")
		case len(query["order"]) > 1:
			return httpapi.BadRequest(httpapi.CodeInvalid, "order", "order given more than once")
		case len(order) > maxOrderID:
			return httpapi.BadRequest(httpapi.CodeInvalid, "order", fmt.Sprintf("order is longer than %d bytes", maxOrderID))
		}
		ns, err := svc.List(r.Context(), order)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusOK, struct {
			Notifications []domain.Notification `json:"notifications"`
		}{ns})
		return nil
	}, httpapi.WithLogger(log)))
}
