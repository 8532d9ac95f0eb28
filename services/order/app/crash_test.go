package app_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/app"
	"github.com/catga-go/catga/services/order/domain"
)

// A peer that stops dead right after a participant answered (before it
// recorded the answer) leaves the saga to another peer, which finishes it:
// the order still ends once, with the right outcome, and the participant
// applied each step once (its fence answers the repeated key).
func TestSagaSurvivesAPeerDyingAfterAReply(t *testing.T) {
	tests := []struct {
		name   string
		point  saga.Point
		step   int
		cmd    domain.PlaceOrder
		state  domain.State
		reason string
		net    int64
		ops    []string
	}{
		{"after the charge", saga.AfterActionReply, app.StepCharge,
			domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book}}, domain.StateCompleted, "", 2500,
			[]string{"charge", "reserve"}},
		{"after the reservation", saga.AfterActionReply, app.StepReserve,
			domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book}}, domain.StateCompleted, "", 2500,
			[]string{"charge", "reserve"}},
		{"after the refund", saga.AfterCompensationReply, app.StepCharge,
			domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book, pen}}, domain.StateCancelled, contracts.CodeOutOfStock, 0,
			[]string{"charge", "reserve refused", "refund"}},
		{"after the cancellation", saga.AfterCompensationReply, app.StepOrder,
			domain.PlaceOrder{Customer: "poor", Items: []contracts.Item{book}}, domain.StateCancelled, contracts.CodeInsufficientFunds, 0,
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lease := []saga.Option{saga.WithLeaseTTL(300 * time.Millisecond), saga.WithRecoveryInterval(50 * time.Millisecond)}
			frozen, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			freeze := saga.WithHook(func(_ context.Context, p saga.Point, rec *saga.Record) {
				if p == tt.point && rec.Step == tt.step {
					once.Do(func() { close(frozen) })
					<-release // the peer is dead: it writes nothing more
				}
			})
			e := newEnv(t, funded(), append(lease, freeze)...)
			survivor, _ := e.peer(t, lease...)

			o := e.place(t, tt.cmd)
			if err := e.svc.StartSaga(t.Context(), placedEvent(o)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-frozen:
			case <-time.After(10 * time.Second):
				t.Fatal("the saga never reached the point of death")
			}
			// Stop the frozen peer's lease renewal without releasing its
			// lease (its run is stuck in the hook): the lease expires as a
			// dead peer's would.
			closeWithin(e.engine, 50*time.Millisecond)

			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			rec, err := survivor.Await(ctx, o.ID)
			if err != nil {
				t.Fatalf("the surviving peer did not finish the saga: %v", err)
			}
			close(release)
			closeWithin(e.engine, 5*time.Second) // the dead peer's run ends, fenced out

			d, err := e.svc.Get(t.Context(), o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.Order.State != tt.state || d.Order.Reason != tt.reason {
				t.Fatalf("order %s %q, want %s %q (saga %s)", d.Order.State, d.Order.Reason, tt.state, tt.reason, rec.State)
			}
			if got := e.parts.net(o.ID); got != tt.net {
				t.Errorf("charged - refunded = %d, want %d", got, tt.net)
			}
			if got := e.parts.ops(); !slices.Equal(got, tt.ops) {
				t.Errorf("participant ops %v, want %v", got, tt.ops)
			}
			if got := e.events(t, o.ID); len(got) != 2 {
				t.Errorf("events %v, want order.placed and one outcome", got)
			}
			if rec.Epoch < 2 {
				t.Errorf("saga epoch %d: the survivor never took it over", rec.Epoch)
			}
		})
	}
}

func closeWithin(e *saga.Engine, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_ = e.Close(ctx)
}
