package app_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/notification/app"
	"github.com/catga-go/catga/services/notification/domain"
)

type sent struct {
	mu  sync.Mutex
	ids []string
	err error
}

func (s *sent) Send(_ context.Context, n domain.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.ids = append(s.ids, n.ID)
	return nil
}

func newService(t *testing.T, sender app.Sender) (*app.Service, *sqlitestore.Store) {
	t.Helper()
	reg := eventstore.NewRegistry()
	if err := app.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	store, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "notification.db"), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return app.New(store, sender, nil), store
}

// delivered is the context of a delivery of the message with id.
func delivered(t *testing.T, id string) context.Context {
	return catga.WithMetadata(t.Context(), catga.Metadata{MessageID: id})
}

var at = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

func TestEachOrderEventIsRecordedOnce(t *testing.T) {
	svc, store := newService(t, &sent{})
	completed := contracts.OrderCompleted{OrderID: "o1", Customer: "alice", Total: 2500, CompletedAt: at}
	var wg sync.WaitGroup
	for range 5 { // redeliveries, some concurrent
		wg.Go(func() {
			if err := svc.OnCompleted(delivered(t, "ev-1"), completed); err != nil {
				t.Errorf("OnCompleted: %v", err)
			}
		})
	}
	wg.Wait()
	if err := svc.OnCancelled(delivered(t, "ev-2"), contracts.OrderCancelled{OrderID: "o2", Customer: "bob", Reason: contracts.CodeOutOfStock}); err != nil {
		t.Fatal(err)
	}
	got, err := svc.List(t.Context(), "o1")
	if err != nil || len(got) != 1 || got[0].Kind != domain.KindCompleted || got[0].ID != domain.IDFor("ev-1") {
		t.Fatalf("List(o1) = %+v, %v; want one completed notification", got, err)
	}
	got, err = svc.List(t.Context(), "o2")
	if err != nil || len(got) != 1 || got[0].Reason != contracts.CodeOutOfStock {
		t.Fatalf("List(o2) = %+v, %v", got, err)
	}
	if got, err := svc.List(t.Context(), "nothing"); err != nil || len(got) != 0 {
		t.Fatalf("List(nothing) = %+v, %v; want none", got, err)
	}
	all, err := store.ReadAll(t.Context(), 0, 100)
	if err != nil || len(all) != 2 {
		t.Fatalf("the store holds %d events (%v), want 2", len(all), err)
	}
}

func TestInvalidOrderEventIsPermanent(t *testing.T) {
	svc, _ := newService(t, &sent{})
	err := svc.OnCompleted(delivered(t, "ev-1"), contracts.OrderCompleted{Customer: "alice"})
	if !errors.Is(err, domain.ErrInvalidEvent) || catga.IsRetryable(err) {
		t.Fatalf("OnCompleted without an order id = %v, want a permanent ErrInvalidEvent", err)
	}
	err = svc.OnCompleted(t.Context(), contracts.OrderCompleted{OrderID: "o1", Customer: "alice"})
	if !errors.Is(err, domain.ErrInvalidEvent) {
		t.Fatalf("OnCompleted without a message id = %v, want ErrInvalidEvent", err)
	}
}

func TestSendPassesTheSendersVerdictOn(t *testing.T) {
	s := &sent{}
	svc, _ := newService(t, s)
	n := domain.Notification{ID: "n1", OrderID: "o1"}
	if err := svc.Send(t.Context(), n); err != nil || len(s.ids) != 1 {
		t.Fatalf("Send = %v, sent %v", err, s.ids)
	}
	s.err = catga.Permanent(errors.New("refused"))
	if err := svc.Send(t.Context(), n); err == nil || catga.IsRetryable(err) {
		t.Fatalf("Send = %v, want the sender's permanent error", err)
	}
}
