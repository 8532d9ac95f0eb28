package domain_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/catga-go/catga/services/payment/domain"
)

// fold replays events into a fresh account, as a load does.
func fold(evs ...any) domain.Account {
	var a domain.Account
	for _, e := range evs {
		a = domain.Evolve(a, e)
	}
	return a
}

func TestEvolve(t *testing.T) {
	a := fold(domain.Opened{Account: "alice"}, domain.Deposited{Amount: 1000},
		domain.Charged{Order: "o1", Amount: 300}, domain.Charged{Order: "o2", Amount: 200},
		domain.Refunded{Order: "o1", Amount: 300})
	want := domain.Account{ID: "alice", Balance: 800, Charges: map[string]domain.Charge{
		"o1": {Amount: 300, Refunded: true}, "o2": {Amount: 200},
	}}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("state = %+v, want %+v", a, want)
	}
	if n, ok := a.Outstanding("o2"); !ok || n != 200 {
		t.Errorf("Outstanding(o2) = %d, %v; want 200, true", n, ok)
	}
	if _, ok := a.Outstanding("o1"); ok {
		t.Error("o1 was refunded, yet outstanding")
	}
}

func TestDecide(t *testing.T) {
	open := []any{domain.Opened{Account: "alice"}, domain.Deposited{Amount: 500}}
	charged := append(append([]any{}, open...), domain.Charged{Order: "o1", Amount: 200})
	refunded := append(append([]any{}, charged...), domain.Refunded{Order: "o1", Amount: 200})
	type decider interface {
		Decide(domain.Account) ([]any, error)
	}
	tests := []struct {
		name    string
		history []any
		cmd     decider
		want    []any
		wantErr error
	}{
		{"open", nil, domain.OpenAccount{ID: "alice", Balance: 500}, open, nil},
		{"open with nothing", nil, domain.OpenAccount{ID: "bob"}, []any{domain.Opened{Account: "bob"}}, nil},
		{"open twice", open, domain.OpenAccount{ID: "alice", Balance: 1}, nil, domain.ErrAccountExists},
		{"deposit", open, domain.Deposit{Account: "alice", Amount: 5}, []any{domain.Deposited{Amount: 5}}, nil},
		{"deposit to nobody", nil, domain.Deposit{Account: "x", Amount: 5}, nil, domain.ErrUnknownAccount},
		{"deposit overflowing", open, domain.Deposit{Account: "alice", Amount: math.MaxInt64}, nil, domain.ErrInvalid},
		{"charge", open, domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 200}, []any{domain.Charged{Order: "o1", Amount: 200}}, nil},
		{"charge all", open, domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 500}, []any{domain.Charged{Order: "o1", Amount: 500}}, nil},
		{"charge too much", open, domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 501}, nil, domain.ErrInsufficientFunds},
		{"charge nobody", nil, domain.ChargeOrder{Order: "o1", Account: "x", Amount: 1}, nil, domain.ErrUnknownAccount},
		{"charge again, same amount", charged, domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 200}, nil, nil},
		{"charge again, other amount", charged, domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 100}, nil, domain.ErrChargeMismatch},
		{"charge after refund", refunded, domain.ChargeOrder{Order: "o1", Account: "alice", Amount: 100}, []any{domain.Charged{Order: "o1", Amount: 100}}, nil},
		{"refund", charged, domain.RefundOrder{Order: "o1", Account: "alice"}, []any{domain.Refunded{Order: "o1", Amount: 200}}, nil},
		{"refund twice", refunded, domain.RefundOrder{Order: "o1", Account: "alice"}, nil, nil},
		{"refund uncharged", open, domain.RefundOrder{Order: "o1", Account: "alice"}, nil, nil},
		{"refund nobody", nil, domain.RefundOrder{Order: "o1", Account: "x"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cmd.Decide(fold(tt.history...))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("events = %#v, want %#v", got, tt.want)
			}
			if after := fold(append(append([]any{}, tt.history...), got...)...); after.Balance < 0 {
				t.Fatalf("balance went negative: %d", after.Balance)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		cmd       interface{ Validate() error }
		wantField string // "" means valid
	}{
		{"open", domain.OpenAccount{ID: "alice-1", Balance: 0}, ""},
		{"open without id", domain.OpenAccount{Balance: 1}, "id"},
		{"open with a bad id", domain.OpenAccount{ID: "a b"}, "id"},
		{"open with a long id", domain.OpenAccount{ID: strings.Repeat("a", domain.MaxIDLen+1)}, "id"},
		{"open negative", domain.OpenAccount{ID: "a", Balance: -1}, "balance"},
		{"deposit zero", domain.Deposit{Account: "a"}, "amount"},
		{"deposit negative", domain.Deposit{Account: "a", Amount: -5}, "amount"},
		{"charge", domain.ChargeOrder{Order: "o", Account: "a", Amount: 1}, ""},
		{"charge without order", domain.ChargeOrder{Account: "a", Amount: 1}, "order_id"},
		{"charge without customer", domain.ChargeOrder{Order: "o", Amount: 1}, "customer"},
		{"charge zero", domain.ChargeOrder{Order: "o", Account: "a"}, "amount"},
		{"refund", domain.RefundOrder{Order: "o", Account: "a"}, ""},
		{"refund a bad order", domain.RefundOrder{Order: "o/1", Account: "a"}, "order_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cmd.Validate()
			var ie *domain.InvalidError
			switch {
			case tt.wantField == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantField != "" && (!errors.As(err, &ie) || ie.Field != tt.wantField):
				t.Fatalf("err = %v, want an InvalidError of field %q", err, tt.wantField)
			case err != nil && !errors.Is(err, domain.ErrInvalid):
				t.Fatalf("err = %v does not match ErrInvalid", err)
			}
		})
	}
}
