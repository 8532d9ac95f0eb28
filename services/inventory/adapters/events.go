package adapters

import (
	"errors"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/services/inventory/domain"
)

// RegisterEvents registers the stock and reservation events under their
// stored names. The names are part of the stored format and of the
// subjects the outbox publishes on (catga.evt.<name>): never change them.
func RegisterEvents(reg *eventstore.Registry) error {
	return errors.Join(
		eventstore.Register[domain.StockAdded](reg, "inventory.stock.added"),
		eventstore.Register[domain.StockReserved](reg, "inventory.stock.reserved"),
		eventstore.Register[domain.StockReleased](reg, "inventory.stock.released"),
		eventstore.Register[domain.ReservationMade](reg, "inventory.reservation.made"),
		eventstore.Register[domain.ReservationReleased](reg, "inventory.reservation.released"),
	)
}
