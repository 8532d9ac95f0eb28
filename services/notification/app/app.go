package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/notification/domain"
)

// RecordedTopic is the topic of the service's own event: a notification was
// recorded and is to be sent.
var RecordedTopic = transport.NewTopic[domain.Notification]("notification.recorded")

// StreamPrefix prefixes the stream of an order's notifications.
const StreamPrefix = "notification-"

// InboxConsumer is the inbox's consumer name for the order events.
const InboxConsumer = "notification"

// RegisterEvents registers the service's event type under its topic name,
// so the outbox publishes it on the topic's subject.
func RegisterEvents(reg *eventstore.Registry) error {
	return eventstore.Register[domain.Notification](reg, RecordedTopic.Name())
}

// Sender tells a customer.
//
// Contract: Send delivers n, or returns an error. It may be called more
// than once for one notification (after a crash, or when an earlier call's
// outcome was unknown), so implementations pass n.ID on for the receiver to
// deduplicate. An error marked catga.Permanent will not be retried; any
// other error is retried later.
type Sender interface {
	Send(ctx context.Context, n domain.Notification) error
}

// Service records and sends notifications.
type Service struct {
	store  eventstore.Store
	sender Sender
	log    *slog.Logger
}

// New returns the service over store (with [RegisterEvents] applied) and
// sender.
func New(store eventstore.Store, sender Sender, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, sender: sender, log: log}
}

// OnCompleted records the notification about a completed order, once per
// delivered message (the message id from ctx's catga.Metadata).
func (s *Service) OnCompleted(ctx context.Context, ev contracts.OrderCompleted) error {
	id := messageID(ctx)
	n, err := domain.Completed(id, ev)
	if err != nil {
		return catga.Permanent(err)
	}
	return s.record(ctx, id, n)
}

// OnCancelled records the notification about a cancelled order, as
// OnCompleted.
func (s *Service) OnCancelled(ctx context.Context, ev contracts.OrderCancelled) error {
	id := messageID(ctx)
	n, err := domain.Cancelled(id, ev)
	if err != nil {
		return catga.Permanent(err)
	}
	return s.record(ctx, id, n)
}

// messageID is the delivered message's id: the order event's id, which the
// outbox publishes as the message id.
func messageID(ctx context.Context) string {
	md, _ := catga.MetadataFrom(ctx)
	return md.MessageID
}

// record appends n with the inbox record of message id, in one
// transaction; a message already recorded appends nothing.
func (s *Service) record(ctx context.Context, messageID string, n domain.Notification) error {
	_, err := s.store.Append(ctx, StreamPrefix+n.OrderID, eventstore.Any,
		[]eventstore.Event{{ID: n.ID, Data: n}}, eventstore.WithInbox(InboxConsumer, messageID))
	if errors.Is(err, inbox.ErrDuplicate) {
		s.log.DebugContext(ctx, "notification already recorded", "order", n.OrderID, "message", messageID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("catga: notification: record %s for order %s: %w", n.Kind, n.OrderID, err)
	}
	s.log.InfoContext(ctx, "notification recorded", "order", n.OrderID, "kind", n.Kind, "notification", n.ID)
	return nil
}

// Send sends n; it is the handler of the service's notification.recorded
// events.
func (s *Service) Send(ctx context.Context, n domain.Notification) error {
	if err := s.sender.Send(ctx, n); err != nil {
		return fmt.Errorf("catga: notification: send %s: %w", n.ID, err)
	}
	return nil
}

// List returns the notifications recorded for order id, oldest first; none
// is not an error (the order may not have ended yet, or not exist).
func (s *Service) List(ctx context.Context, orderID string) ([]domain.Notification, error) {
	recs, err := s.store.Load(ctx, StreamPrefix+orderID, 0)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Notification, 0, len(recs))
	for _, r := range recs {
		if n, ok := r.Event.(domain.Notification); ok {
			out = append(out, n)
		}
	}
	return out, nil
}
