package domain

import (
	"fmt"
	"math"
)

// Events of an account's stream. Their JSON is the stored format: add
// fields, never rename them.
type (
	// Opened starts an account's stream.
	Opened struct {
		Account string `json:"account"`
	}
	// Deposited adds Amount to the balance.
	Deposited struct {
		Amount int64 `json:"amount"`
	}
	// Charged takes Amount from the balance for an order.
	Charged struct {
		Order  string `json:"order_id"`
		Amount int64  `json:"amount"`
	}
	// Refunded gives an order's charge back.
	Refunded struct {
		Order  string `json:"order_id"`
		Amount int64  `json:"amount"`
	}
)

// Charge is what an order was charged.
type Charge struct {
	Amount   int64
	Refunded bool
}

// Account is the state of an account: the fold of its events.
type Account struct {
	ID      string
	Balance int64
	// Charges holds each order's latest charge, by order id.
	Charges map[string]Charge
}

// Exists reports whether the account was opened.
func (a Account) Exists() bool { return a.ID != "" }

// Outstanding returns what order is charged and not refunded, if anything.
func (a Account) Outstanding(order string) (int64, bool) {
	c, ok := a.Charges[order]
	if !ok || c.Refunded {
		return 0, false
	}
	return c.Amount, true
}

// Evolve folds one event into a. It updates a.Charges in place: a state
// is owned by the one fold that builds it.
func Evolve(a Account, ev any) Account {
	switch e := ev.(type) {
	case Opened:
		a.ID = e.Account
	case Deposited:
		a.Balance += e.Amount
	case Charged:
		a.Balance -= e.Amount
		a.charges()[e.Order] = Charge{Amount: e.Amount}
	case Refunded:
		a.Balance += e.Amount
		a.charges()[e.Order] = Charge{Amount: e.Amount, Refunded: true}
	}
	return a
}

func (a *Account) charges() map[string]Charge {
	if a.Charges == nil {
		a.Charges = map[string]Charge{}
	}
	return a.Charges
}

// OpenAccount opens account ID with an initial balance.
type OpenAccount struct {
	ID      string
	Balance int64
}

// Validate names the first invalid field.
func (c OpenAccount) Validate() error {
	if err := ValidateID("id", c.ID); err != nil {
		return err
	}
	if c.Balance < 0 {
		return invalid("balance", "must not be negative, got %d", c.Balance)
	}
	return nil
}

// Decide opens the account unless it exists.
func (c OpenAccount) Decide(a Account) ([]any, error) {
	if a.Exists() {
		return nil, fmt.Errorf("%w: %s", ErrAccountExists, c.ID)
	}
	evs := []any{Opened{Account: c.ID}}
	if c.Balance > 0 {
		evs = append(evs, Deposited{Amount: c.Balance})
	}
	return evs, nil
}

// Deposit adds Amount to account Account.
type Deposit struct {
	Account string
	Amount  int64
}

// Validate names the first invalid field.
func (c Deposit) Validate() error {
	if err := ValidateID("id", c.Account); err != nil {
		return err
	}
	return ValidatePositive("amount", c.Amount)
}

// Decide deposits into an open account whose balance stays representable.
func (c Deposit) Decide(a Account) ([]any, error) {
	if !a.Exists() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAccount, c.Account)
	}
	if a.Balance > math.MaxInt64-c.Amount {
		return nil, invalid("amount", "the balance would exceed %d", int64(math.MaxInt64))
	}
	return []any{Deposited{Amount: c.Amount}}, nil
}

// ChargeOrder takes Amount from account Account for order Order.
type ChargeOrder struct {
	Order   string
	Account string
	Amount  int64
}

// Validate names the first invalid field, by its name in the wire
// contract.
func (c ChargeOrder) Validate() error {
	if err := ValidateID("order_id", c.Order); err != nil {
		return err
	}
	if err := ValidateID("customer", c.Account); err != nil {
		return err
	}
	return ValidatePositive("amount", c.Amount)
}

// Decide charges the order unless it holds a charge already: the same
// amount again decides nothing (the charge stands), another amount is
// ErrChargeMismatch. The balance must cover the amount.
func (c ChargeOrder) Decide(a Account) ([]any, error) {
	if !a.Exists() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAccount, c.Account)
	}
	if held, ok := a.Outstanding(c.Order); ok {
		if held == c.Amount {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: order %s holds a charge of %d, asked %d", ErrChargeMismatch, c.Order, held, c.Amount)
	}
	if a.Balance < c.Amount {
		return nil, fmt.Errorf("%w: account %s has %d, order %s needs %d", ErrInsufficientFunds, c.Account, a.Balance, c.Order, c.Amount)
	}
	return []any{Charged{Order: c.Order, Amount: c.Amount}}, nil
}

// RefundOrder gives back what order Order was charged on account Account.
type RefundOrder struct {
	Order   string
	Account string
}

// Validate names the first invalid field, by its name in the wire
// contract.
func (c RefundOrder) Validate() error {
	if err := ValidateID("order_id", c.Order); err != nil {
		return err
	}
	return ValidateID("customer", c.Account)
}

// Decide refunds the order's outstanding charge; with none (never charged,
// refunded already, or no such account) it decides nothing: a refund is a
// compensation and must be able to succeed.
func (c RefundOrder) Decide(a Account) ([]any, error) {
	amount, ok := a.Outstanding(c.Order)
	if !ok {
		return nil, nil
	}
	return []any{Refunded{Order: c.Order, Amount: amount}}, nil
}
