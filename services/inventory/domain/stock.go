package domain

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Line is a quantity of one SKU.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// Events of a SKU's stock stream. Their JSON is the stored format: add
// fields, never rename them.
type (
	// StockAdded puts Quantity on hand.
	StockAdded struct {
		Quantity int64 `json:"quantity"`
	}
	// StockReserved holds Quantity of the stock for an order.
	StockReserved struct {
		Order    string `json:"order_id"`
		Quantity int64  `json:"quantity"`
	}
	// StockReleased returns what an order held.
	StockReleased struct {
		Order    string `json:"order_id"`
		Quantity int64  `json:"quantity"`
	}
)

// Events of an order's reservation stream.
type (
	// ReservationMade: the order holds Lines.
	ReservationMade struct {
		Order string `json:"order_id"`
		Lines []Line `json:"lines"`
	}
	// ReservationReleased: the order's Lines went back to stock.
	ReservationReleased struct {
		Order string `json:"order_id"`
		Lines []Line `json:"lines"`
	}
)

// Stock is the state of a SKU's stock stream.
type Stock struct {
	Known    bool  // stock was added at least once
	OnHand   int64 // added so far
	Reserved int64 // held for orders
}

// Available is what can still be reserved.
func (s Stock) Available() int64 { return s.OnHand - s.Reserved }

// Reservation is the state of an order's reservation stream.
type Reservation struct {
	Held  bool
	Lines []Line // what is held (or was, once released)
}

// Ledger is the state of one inventory stream: a SKU's Stock, or an
// order's Reservation; the other stays zero. One state type for both
// lets a reservation decide over both kinds of stream at once.
type Ledger struct {
	Stock       Stock
	Reservation Reservation
}

// Stream ids: the instance ids of the inventory aggregate.
const (
	stockPrefix       = "stock-"
	reservationPrefix = "reservation-"
)

// StockID is the id of sku's stock stream.
func StockID(sku string) string { return stockPrefix + sku }

// ReservationID is the id of order's reservation stream.
func ReservationID(order string) string { return reservationPrefix + order }

// Evolve folds one event into l.
func Evolve(l Ledger, ev any) Ledger {
	switch e := ev.(type) {
	case StockAdded:
		l.Stock.Known = true
		l.Stock.OnHand += e.Quantity
	case StockReserved:
		l.Stock.Reserved += e.Quantity
	case StockReleased:
		l.Stock.Reserved -= e.Quantity
	case ReservationMade:
		l.Reservation = Reservation{Held: true, Lines: e.Lines}
	case ReservationReleased:
		l.Reservation = Reservation{Lines: e.Lines}
	}
	return l
}

// AddStock puts Quantity of SKU on hand.
type AddStock struct {
	SKU      string
	Quantity int64
}

// Validate names the first invalid field.
func (c AddStock) Validate() error {
	if err := ValidateID("sku", c.SKU); err != nil {
		return err
	}
	return ValidatePositive("quantity", c.Quantity)
}

// Decide adds the stock while the count stays representable.
func (c AddStock) Decide(l Ledger) ([]any, error) {
	if l.Stock.OnHand > math.MaxInt64-c.Quantity {
		return nil, invalid("quantity", "stock on hand would exceed %d", int64(math.MaxInt64))
	}
	return []any{StockAdded{Quantity: c.Quantity}}, nil
}

// ReserveOrder holds every line for Order, or none. Build it with
// [NewReserveOrder].
type ReserveOrder struct {
	Order string
	Lines []Line // one per SKU, sorted by SKU
}

// NewReserveOrder validates a reservation, naming the first invalid field
// by its name in the wire contract, and merges lines of the same SKU.
func NewReserveOrder(order string, lines []Line) (ReserveOrder, error) {
	if err := ValidateID("order_id", order); err != nil {
		return ReserveOrder{}, err
	}
	if len(lines) == 0 {
		return ReserveOrder{}, invalid("lines", "required")
	}
	if len(lines) > MaxLines {
		return ReserveOrder{}, invalid("lines", "more than %d", MaxLines)
	}
	bySKU := make(map[string]int64, len(lines))
	for i, l := range lines {
		if err := ValidateID(fmt.Sprintf("lines[%d].sku", i), l.SKU); err != nil {
			return ReserveOrder{}, err
		}
		field := fmt.Sprintf("lines[%d].quantity", i)
		if err := ValidatePositive(field, l.Quantity); err != nil {
			return ReserveOrder{}, err
		}
		if bySKU[l.SKU] > math.MaxInt64-l.Quantity {
			return ReserveOrder{}, invalid(field, "the lines of sku %s add up past %d", l.SKU, int64(math.MaxInt64))
		}
		bySKU[l.SKU] += l.Quantity
	}
	c := ReserveOrder{Order: order, Lines: make([]Line, 0, len(bySKU))}
	for sku, q := range bySKU {
		c.Lines = append(c.Lines, Line{SKU: sku, Quantity: q})
	}
	slices.SortFunc(c.Lines, func(a, b Line) int { return strings.Compare(a.SKU, b.SKU) })
	return c, nil
}

// IDs are the streams the reservation decides over: the order's and every
// SKU's.
func (c ReserveOrder) IDs() []string {
	ids := []string{ReservationID(c.Order)}
	for _, l := range c.Lines {
		ids = append(ids, StockID(l.SKU))
	}
	return ids
}

// Decide holds every line, or refuses: ErrUnknownSKU for a SKU never
// stocked, ErrOutOfStock for one with less available than asked (the
// first line, by SKU, that fails). An order that holds these lines already
// decides nothing; one that holds other lines is ErrReservationMismatch.
func (c ReserveOrder) Decide(states map[string]Ledger) (map[string][]any, error) {
	if r := states[ReservationID(c.Order)].Reservation; r.Held {
		if slices.Equal(r.Lines, c.Lines) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: order %s", ErrReservationMismatch, c.Order)
	}
	out := map[string][]any{ReservationID(c.Order): {ReservationMade(c)}}
	for _, l := range c.Lines {
		s := states[StockID(l.SKU)].Stock
		switch {
		case !s.Known:
			return nil, fmt.Errorf("%w: %s", ErrUnknownSKU, l.SKU)
		case s.Available() < l.Quantity:
			return nil, fmt.Errorf("%w: sku %s has %d available, order %s asks %d", ErrOutOfStock, l.SKU, s.Available(), c.Order, l.Quantity)
		}
		out[StockID(l.SKU)] = []any{StockReserved{Order: c.Order, Quantity: l.Quantity}}
	}
	return out, nil
}

// ReleaseOrder returns what Order holds to stock.
type ReleaseOrder struct {
	Order string
}

// Validate names the first invalid field by its name in the wire contract.
func (c ReleaseOrder) Validate() error { return ValidateID("order_id", c.Order) }

// IDs are the streams a release of reservation r decides over: the
// order's and every SKU r holds.
func (c ReleaseOrder) IDs(r Reservation) []string {
	ids := []string{ReservationID(c.Order)}
	if r.Held {
		for _, l := range r.Lines {
			ids = append(ids, StockID(l.SKU))
		}
	}
	return ids
}

// Decide releases what the order holds; holding nothing, it decides
// nothing. ErrReplan if the order holds a SKU whose stream was not loaded
// (the reservation changed since its IDs were taken).
func (c ReleaseOrder) Decide(states map[string]Ledger) (map[string][]any, error) {
	r := states[ReservationID(c.Order)].Reservation
	if !r.Held {
		return nil, nil
	}
	out := map[string][]any{ReservationID(c.Order): {ReservationReleased{Order: c.Order, Lines: r.Lines}}}
	for _, l := range r.Lines {
		if _, ok := states[StockID(l.SKU)]; !ok {
			return nil, fmt.Errorf("%w: order %s", ErrReplan, c.Order)
		}
		out[StockID(l.SKU)] = []any{StockReleased{Order: c.Order, Quantity: l.Quantity}}
	}
	return out, nil
}
