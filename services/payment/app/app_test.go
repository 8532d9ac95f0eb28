package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/services/payment/app"
	"github.com/catga-go/catga/services/payment/domain"
)

type fixture struct {
	store eventstore.Store
	svc   *app.Service
}

// step returns ctx carrying the metadata of step 0 of saga id in epoch.
func step(ctx context.Context, id string, epoch uint64, undo bool) context.Context {
	key := saga.ActionKey(id, 0, 1)
	if undo {
		key = saga.UndoKey(key, 0)
	}
	return catga.WithMetadata(ctx, catga.Metadata{MessageID: key, CorrelationID: id, IdempotencyKey: key, Epoch: epoch})
}

func (f fixture) open(t *testing.T, id string, balance int64) {
	t.Helper()
	if _, err := f.svc.Open(t.Context(), domain.OpenAccount{ID: id, Balance: balance}); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) events(t *testing.T, account string) []any {
	t.Helper()
	recs, err := f.store.Load(t.Context(), app.Accounts.StreamID(account), 0)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]any, len(recs))
	for i, r := range recs {
		evs[i] = r.Event
	}
	return evs
}

func TestAccounts(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		f.open(t, "alice", 100)
		if _, err := f.svc.Open(ctx, domain.OpenAccount{ID: "alice", Balance: 5}); !errors.Is(err, domain.ErrAccountExists) {
			t.Fatalf("second open: %v, want ErrAccountExists", err)
		}
		if a, err := f.svc.Deposit(ctx, domain.Deposit{Account: "alice", Amount: 50}); err != nil || a.Balance != 150 {
			t.Fatalf("deposit: %+v, %v", a, err)
		}
		if _, err := f.svc.Deposit(ctx, domain.Deposit{Account: "bob", Amount: 50}); !errors.Is(err, domain.ErrUnknownAccount) {
			t.Fatalf("deposit to bob: %v, want ErrUnknownAccount", err)
		}
		if _, err := f.svc.Deposit(ctx, domain.Deposit{Account: "alice", Amount: 0}); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("deposit 0: %v, want ErrInvalid", err)
		}
		if _, err := f.svc.Account(ctx, "bob"); !errors.Is(err, domain.ErrUnknownAccount) {
			t.Fatalf("read bob: %v, want ErrUnknownAccount", err)
		}
		if a, err := f.svc.Account(ctx, "alice"); err != nil || a.Balance != 150 {
			t.Fatalf("read alice: %+v, %v", a, err)
		}
		if got := len(f.events(t, "alice")); got != 3 {
			t.Fatalf("alice has %d events, want 3 (opened, deposited, deposited): refused commands wrote something", got)
		}
	})
}

func TestCharge(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.open(t, "alice", 100)
		tests := []struct {
			name    string
			cmd     domain.ChargeOrder
			ctx     context.Context
			want    app.Receipt
			wantErr error
		}{
			{"charged", domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 60}, step(t.Context(), "o1", 1, false), app.Receipt{Order: "o1", Amount: 60, Balance: 40}, nil},
			{"declined", domain.ChargeOrder{Order: "o2", Account: "alice", Amount: 41}, step(t.Context(), "o2", 1, false), app.Receipt{}, domain.ErrInsufficientFunds},
			{"unknown account", domain.ChargeOrder{Order: "o3", Account: "bob", Amount: 1}, step(t.Context(), "o3", 1, false), app.Receipt{}, domain.ErrUnknownAccount},
			{"invalid", domain.ChargeOrder{Order: "o4", Account: "alice", Amount: -1}, step(t.Context(), "o4", 1, false), app.Receipt{}, domain.ErrInvalid},
			{"no saga metadata", domain.ChargeOrder{Order: "o5", Account: "alice", Amount: 1}, t.Context(), app.Receipt{}, app.ErrNoSagaStep},
			{"a message id only", domain.ChargeOrder{Order: "o6", Account: "alice", Amount: 1}, catga.WithMetadata(t.Context(), catga.Metadata{MessageID: "m1"}), app.Receipt{}, app.ErrNoSagaStep},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := f.svc.Charge(tt.ctx, tt.cmd)
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if err == nil && got != tt.want {
					t.Fatalf("receipt = %+v, want %+v", got, tt.want)
				}
			})
		}
		if a, _ := f.svc.Account(t.Context(), "alice"); a.Balance != 40 || len(a.Charges) != 1 {
			t.Fatalf("alice = %+v, want balance 40 and only o1 charged", a)
		}
	})
}

// TestChargeOnce: concurrent deliveries of one step message charge once,
// and every one of them is told the charge.
func TestChargeOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.open(t, "alice", 1000)
		ctx := step(t.Context(), "o1", 1, false)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				r, err := f.svc.Charge(ctx, domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 300})
				if err == nil && r.Amount != 300 {
					err = errors.New("a delivery was not told the charge")
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if a, _ := f.svc.Account(t.Context(), "alice"); a.Balance != 700 {
			t.Fatalf("balance = %d, want 700: charged more than once", a.Balance)
		}
	})
}

func TestRefund(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.open(t, "alice", 100)
		if _, err := f.svc.Charge(step(t.Context(), "o1", 1, false), domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 70}); err != nil {
			t.Fatal(err)
		}
		undo := step(t.Context(), "o1", 1, true)
		for i := range 3 { // the first refunds, redeliveries are told so
			r, err := f.svc.Refund(undo, domain.RefundOrder{Order: "o1", Account: "alice"})
			if err != nil || r != (app.Receipt{Order: "o1", Amount: 70, Balance: 100}) {
				t.Fatalf("delivery %d: %+v, %v", i, r, err)
			}
		}
		if got := len(f.events(t, "alice")); got != 4 {
			t.Fatalf("%d events, want 4 (opened, deposited, charged, refunded)", got)
		}
	})
}

// TestRefundBeforeCharge: a compensation that overtakes its action
// succeeds with nothing to give back, and the late action is refused.
func TestRefundBeforeCharge(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.open(t, "alice", 100)
		r, err := f.svc.Refund(step(t.Context(), "o1", 1, true), domain.RefundOrder{Order: "o1", Account: "alice"})
		if err != nil || r.Amount != 0 || r.Balance != 100 {
			t.Fatalf("refund: %+v, %v; want amount 0, balance 100", r, err)
		}
		_, err = f.svc.Charge(step(t.Context(), "o1", 1, false), domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 70})
		var rej *catga.RejectionError
		if !errors.As(err, &rej) || rej.Code != saga.CodeCompensated {
			t.Fatalf("late charge: %v, want a %s rejection", err, saga.CodeCompensated)
		}
		if a, _ := f.svc.Account(t.Context(), "alice"); a.Balance != 100 {
			t.Fatalf("balance = %d, want 100", a.Balance)
		}
	})
}

func TestStaleEpoch(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.open(t, "alice", 100)
		if _, err := f.svc.Charge(step(t.Context(), "o1", 2, false), domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 10}); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Refund(step(t.Context(), "o1", 1, true), domain.RefundOrder{Order: "o1", Account: "alice"})
		var rej *catga.RejectionError
		if !errors.As(err, &rej) || rej.Code != saga.CodeStaleEpoch {
			t.Fatalf("refund from epoch 1 after epoch 2: %v, want a %s rejection", err, saga.CodeStaleEpoch)
		}
		if a, _ := f.svc.Account(t.Context(), "alice"); a.Balance != 90 {
			t.Fatalf("balance = %d, want 90: the stale refund applied", a.Balance)
		}
	})
}

// TestChargeRedeliveredAfterRefund: a delivery of a charge that arrives
// after the charge and its refund were applied is a duplicate, not a new
// charge (the account alone would take it: the order holds no charge).
func TestChargeRedeliveredAfterRefund(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.open(t, "alice", 100)
		charge := domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 70}
		if _, err := f.svc.Charge(step(t.Context(), "o1", 1, false), charge); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Refund(step(t.Context(), "o1", 1, true), domain.RefundOrder{Order: "o1", Account: "alice"}); err != nil {
			t.Fatal(err)
		}
		r, err := f.svc.Charge(step(t.Context(), "o1", 1, false), charge)
		if err != nil || r.Balance != 100 {
			t.Fatalf("redelivered charge: %+v, %v; want balance 100, untouched", r, err)
		}
		if got := len(f.events(t, "alice")); got != 4 {
			t.Fatalf("%d events, want 4 (opened, deposited, charged, refunded)", got)
		}
	})
}
