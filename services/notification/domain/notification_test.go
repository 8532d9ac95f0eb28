package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/notification/domain"
)

var at = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

func TestNotifications(t *testing.T) {
	tests := []struct {
		name    string
		build   func() (domain.Notification, error)
		kind    domain.Kind
		message string // a substring
		err     error
	}{
		{"completed", func() (domain.Notification, error) {
			return domain.Completed("ev1", contracts.OrderCompleted{OrderID: "o1", Customer: "alice", Total: 2550, CompletedAt: at})
		}, domain.KindCompleted, "$25.50 charged", nil},
		{"declined", func() (domain.Notification, error) {
			return domain.Cancelled("ev2", contracts.OrderCancelled{OrderID: "o1", Customer: "alice", Reason: contracts.CodeInsufficientFunds, CancelledAt: at})
		}, domain.KindCancelled, "declined", nil},
		{"out of stock", func() (domain.Notification, error) {
			return domain.Cancelled("ev3", contracts.OrderCancelled{OrderID: "o1", Customer: "alice", Reason: contracts.CodeOutOfStock, CancelledAt: at})
		}, domain.KindCancelled, "refunded", nil},
		{"unknown reason in words", func() (domain.Notification, error) {
			return domain.Cancelled("ev4", contracts.OrderCancelled{OrderID: "o1", Customer: "alice", Reason: "payment_failed"})
		}, domain.KindCancelled, "payment failed", nil},
		{"no order id", func() (domain.Notification, error) {
			return domain.Completed("ev5", contracts.OrderCompleted{Customer: "alice"})
		}, "", "", domain.ErrInvalidEvent},
		{"no event id", func() (domain.Notification, error) {
			return domain.Cancelled("", contracts.OrderCancelled{OrderID: "o1", Customer: "alice"})
		}, "", "", domain.ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := tt.build()
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if n.Kind != tt.kind || !strings.Contains(n.Message, tt.message) || n.OrderID != "o1" || n.ID == "" {
				t.Fatalf("notification %+v, want kind %s and a message with %q", n, tt.kind, tt.message)
			}
		})
	}
}

func TestIDIsStablePerEvent(t *testing.T) {
	a, again, other := domain.IDFor("ev1"), domain.IDFor("ev1"), domain.IDFor("ev2")
	if a != again || a == other {
		t.Fatal("notification ids are not a function of the event id")
	}
}

func TestMoney(t *testing.T) {
	for cents, want := range map[int64]string{0: "$0.00", 5: "$0.05", 2550: "$25.50", -120: "-$1.20"} {
		if got := domain.Money(cents); got != want {
			t.Errorf("Money(%d) = %q, want %q", cents, got, want)
		}
	}
}
