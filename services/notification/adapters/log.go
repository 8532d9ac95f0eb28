package adapters

import (
	"context"
	"log/slog"

	"github.com/catga-go/catga/services/notification/domain"
)

// LogSender "sends" a notification by logging it: the default, for demos
// and development.
type LogSender struct{ Logger *slog.Logger }

// Send logs n at info level.
func (s LogSender) Send(ctx context.Context, n domain.Notification) error {
	s.Logger.InfoContext(ctx, "notification sent", "notification", n.ID, "order", n.OrderID,
		"customer", n.Customer, "kind", n.Kind, "message", n.Message)
	return nil
}
