package ports

import (
	"errors"

	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/notification/app"
)

// Consume subscribes svc to the order events (recording notifications)
// and to the service's own notification.recorded events (sending them),
// each through the service's durable consumer of its topic, shared by the
// service's peers.
func Consume(t transport.Transport, m *mediator.Mediator, service string, svc *app.Service) error {
	err := errors.Join(
		mediator.Subscribe(m, svc.OnCompleted),
		mediator.Subscribe(m, svc.OnCancelled),
		mediator.Subscribe(m, svc.Send),
	)
	if err != nil {
		return err
	}
	cfg := transport.WithConsumer(transport.ConsumerConfig{Concurrency: 4})
	if _, err := transport.ConsumeEvents(t, m, service, contracts.OrderCompletedTopic, cfg); err != nil {
		return err
	}
	if _, err := transport.ConsumeEvents(t, m, service, contracts.OrderCancelledTopic, cfg); err != nil {
		return err
	}
	_, err = transport.ConsumeEvents(t, m, service, app.RecordedTopic, cfg)
	return err
}
