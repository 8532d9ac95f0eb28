package adapters

import (
	"errors"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/services/payment/domain"
)

// RegisterEvents registers the account events under their stored names.
// The names are part of the stored format and of the subjects the outbox
// publishes on (catga.evt.<name>): never change them.
func RegisterEvents(reg *eventstore.Registry) error {
	return errors.Join(
		eventstore.Register[domain.Opened](reg, "payment.account.opened"),
		eventstore.Register[domain.Deposited](reg, "payment.account.deposited"),
		eventstore.Register[domain.Charged](reg, "payment.account.charged"),
		eventstore.Register[domain.Refunded](reg, "payment.account.refunded"),
	)
}
