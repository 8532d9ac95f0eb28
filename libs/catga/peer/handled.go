package peer

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/catga-go/catga/libs/catga/mediator"
)

// handledMetrics counts the requests and events this peer's mediator
// handled (those served over NATS and consumed from JetStream among them),
// by kind, message type and outcome: how the work of a service spreads
// over its peers, e.g. that a peer started by a scale-up takes its share.
func handledMetrics(m metric.Meter) (mediator.Middleware, error) {
	handled, err := m.Int64Counter("catga.messages.handled",
		metric.WithDescription("Requests and events this peer's handlers ran, by kind, type and outcome (ok or error)."))
	if err != nil {
		return nil, err
	}
	return func(next mediator.Handler) mediator.Handler {
		return func(ctx context.Context, msg mediator.Message) error {
			err := next(ctx, msg)
			outcome := "ok"
			if err != nil {
				outcome = "error"
			}
			handled.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(
				attribute.String("kind", msg.Kind().String()),
				attribute.String("type", msg.Type()),
				attribute.String("outcome", outcome)))
			return err
		}
	}, nil
}
