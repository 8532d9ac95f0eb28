package ports

import (
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/app"
)

// Consume starts the order saga of every order.placed event, through the
// service's durable consumer: the peers share it, each event goes to one
// of them, and it is acknowledged only once the saga is persisted (or was
// found to exist), so an event is redelivered, to this peer or another,
// until its saga exists.
func Consume(t transport.Transport, m *mediator.Mediator, service string, svc *app.Service) error {
	if err := mediator.Subscribe(m, svc.StartSaga); err != nil {
		return err
	}
	_, err := transport.ConsumeEvents(t, m, service, contracts.OrderPlacedTopic,
		transport.WithConsumer(transport.ConsumerConfig{Concurrency: 8}))
	return err
}
