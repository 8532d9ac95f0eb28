package app

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/domain"
)

// Limits of a list query.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Summary is an order as the list shows it.
type Summary struct {
	ID        string
	Customer  string
	State     domain.State
	Reason    string
	Total     int64
	Items     int
	PlacedAt  time.Time
	UpdatedAt time.Time

	at      eventstore.Checkpoint // of its order.placed event: the list's order
	checked bool                  // StartStranded found its saga
}

// ListQuery selects a page of orders.
type ListQuery struct {
	State domain.State // "" for every state
	Limit int          // 1..MaxLimit; 0 means DefaultLimit
	After string       // a Page's Next, "" for the first page
}

// Page is a page of orders, oldest first; Next, when not empty, is the
// cursor of the next page.
type Page struct {
	Orders []Summary
	Next   string
}

// View is the read model behind the order list: every order in the order
// in which the event store's feed delivered their order.placed events, with
// its current state. It is kept in memory on each peer and rebuilt from
// the feed at start.
//
// Consistency: eventual. A peer's view follows the feed a moment behind
// the appends (the subscription feeding it polls every 50ms; see package
// service), and right after start it is still catching up. Cursors
// are feed checkpoints, which are the same on every peer, so a client may
// page through different peers. Reads of one order ([Service.Get]) do not
// go through the view and are always current.
//
// View implements eventstore.Checkpoints (in memory) so that a
// Subscription feeds it ([View.Apply]) from its own last checkpoint.
type View struct {
	mu     sync.RWMutex
	orders []*Summary // in feed order
	byID   map[string]*Summary
	cp     eventstore.Checkpoint
}

// NewView returns an empty view.
func NewView() *View { return &View{byID: map[string]*Summary{}} }

// Apply folds one event from the feed into the view; events of other types
// are skipped. It is the handler of an eventstore.Subscription.
func (v *View) Apply(_ context.Context, rec eventstore.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch e := rec.Event.(type) {
	case contracts.OrderPlaced:
		if _, ok := v.byID[e.OrderID]; ok {
			return nil
		}
		s := &Summary{ID: e.OrderID, Customer: e.Customer, State: domain.StatePending, Total: e.Total, Items: len(e.Items),
			PlacedAt: e.PlacedAt, UpdatedAt: e.PlacedAt, at: rec.Checkpoint()}
		v.orders = append(v.orders, s)
		v.byID[e.OrderID] = s
	case contracts.OrderCompleted:
		if s := v.byID[e.OrderID]; s != nil {
			s.State, s.UpdatedAt = domain.StateCompleted, e.CompletedAt
		}
	case contracts.OrderCancelled:
		if s := v.byID[e.OrderID]; s != nil {
			s.State, s.Reason, s.UpdatedAt = domain.StateCancelled, e.Reason, e.CancelledAt
		}
	}
	return nil
}

// LoadCheckpoint implements eventstore.Checkpoints: the view's own.
func (v *View) LoadCheckpoint(context.Context, string) (eventstore.Checkpoint, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.cp, nil
}

// SaveCheckpoint implements eventstore.Checkpoints.
func (v *View) SaveCheckpoint(_ context.Context, _ string, cp eventstore.Checkpoint) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cp = cp
	return nil
}

// List returns the page q selects. A limit out of 0..MaxLimit or a cursor
// that does not parse is a *domain.FieldError naming "limit" or "after".
func (v *View) List(q ListQuery) (Page, error) {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return Page{}, domain.Invalid("limit", "out_of_range", "limit must be between 1 and %d", MaxLimit)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	start := 0
	if q.After != "" {
		after, err := parseCursor(q.After)
		if err != nil {
			return Page{}, err
		}
		start, _ = slices.BinarySearchFunc(v.orders, after, func(s *Summary, cp eventstore.Checkpoint) int {
			switch {
			case s.at.Less(cp):
				return -1
			case cp.Less(s.at):
				return 1
			}
			return 0
		})
		if start < len(v.orders) && v.orders[start].at == after {
			start++
		}
	}
	page := Page{Orders: []Summary{}}
	for _, s := range v.orders[start:] {
		if q.State != "" && s.State != q.State {
			continue
		}
		if len(page.Orders) == q.Limit {
			page.Next = cursor(page.Orders[len(page.Orders)-1].at)
			break
		}
		page.Orders = append(page.Orders, *s)
	}
	return page, nil
}

// unchecked returns the orders pending since before `before` whose saga
// StartStranded has not found yet.
func (v *View) unchecked(before time.Time) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var ids []string
	for _, s := range v.orders {
		if s.State == domain.StatePending && !s.checked && s.PlacedAt.Before(before) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func (v *View) checked(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s := v.byID[id]; s != nil {
		s.checked = true
	}
}

// cursor encodes a feed checkpoint as "<tx>-<position>".
func cursor(cp eventstore.Checkpoint) string {
	return strconv.FormatUint(cp.Tx, 10) + "-" + strconv.FormatInt(cp.Position, 10)
}

func parseCursor(s string) (eventstore.Checkpoint, error) {
	tx, pos, ok := strings.Cut(s, "-")
	if ok {
		t, err1 := strconv.ParseUint(tx, 10, 64)
		p, err2 := strconv.ParseInt(pos, 10, 64)
		if err1 == nil && err2 == nil && p >= 0 {
			return eventstore.Checkpoint{Tx: t, Position: p}, nil
		}
	}
	return eventstore.Checkpoint{}, domain.Invalid("after", "invalid", "after must be the next cursor of a previous page, got %q", s)
}
