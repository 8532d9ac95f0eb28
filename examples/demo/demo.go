package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/catga-go/catga/libs/contracts"
)

// The order states the order service reports.
const (
	statePending   = "PENDING"
	stateCompleted = "COMPLETED"
	stateCancelled = "CANCELLED"
)

// The demo's customers and SKUs.
const (
	rich, richBalance = "ada", 500_00 // cents
	poor, poorBalance = "bob", 10_00
	plenty, plentyQty = "tea", 100
	scarce, scarceQty = "lamp", 1
	teaPrice          = 4_50
	lampPrice         = 45_00
)

// demoOrder is one order the demo places and the outcome it is placed for.
type demoOrder struct {
	customer   string
	items      []contracts.Item
	want       string // stateCompleted or stateCancelled
	wantReason string // of a cancellation

	id       string
	state    string
	reason   string
	total    int64
	refunded int64 // of a charge refunded by the cancellation
	notified bool
}

func orders() []*demoOrder {
	item := func(sku string, qty, price int64) []contracts.Item {
		return []contracts.Item{{SKU: sku, Quantity: qty, UnitPrice: price}}
	}
	return []*demoOrder{
		{customer: rich, items: item(plenty, 2, teaPrice), want: stateCompleted},
		{customer: poor, items: item(scarce, 1, lampPrice), want: stateCancelled, wantReason: contracts.CodeInsufficientFunds},
		{customer: rich, items: item(scarce, 2, lampPrice), want: stateCancelled, wantReason: contracts.CodeOutOfStock},
		{customer: rich, items: item(scarce, 1, lampPrice), want: stateCompleted},
	}
}

type demo struct {
	gw  gateways
	c   client
	out io.Writer
}

func (d demo) run(ctx context.Context, timeout time.Duration) error {
	if err := d.seed(ctx); err != nil {
		return err
	}
	placed := orders()
	for _, o := range placed {
		if err := d.place(ctx, o); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.out, "placed %d orders; waiting for their outcomes\n", len(placed))
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []error
	for _, o := range placed {
		if err := d.await(wctx, o); err != nil {
			errs = append(errs, fmt.Errorf("order %s (%s): %w", o.id, o.customer, err))
		}
	}
	d.print(placed)
	for _, o := range placed {
		if o.state != o.want || o.reason != o.wantReason {
			errs = append(errs, fmt.Errorf("order %s: %s %s, placed to end %s %s", o.id, o.state, o.reason, o.want, o.wantReason))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.howTo()
	return nil
}

// seed opens the accounts and stocks the SKUs. Run again against the same
// data, it tops the rich account up and adds the stock again.
func (d demo) seed(ctx context.Context) error {
	for _, a := range []struct {
		id      string
		balance int64
	}{{rich, richBalance}, {poor, poorBalance}} {
		err := d.c.do(ctx, http.MethodPost, d.gw.payment+"/accounts", nil, map[string]any{"id": a.id, "balance": a.balance}, nil)
		if statusOf(err) == http.StatusConflict && a.id == rich {
			err = d.c.do(ctx, http.MethodPost, d.gw.payment+"/accounts/"+a.id+"/deposits", nil, map[string]any{"amount": a.balance}, nil)
		} else if statusOf(err) == http.StatusConflict {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("open account %s: %w", a.id, err)
		}
	}
	for _, s := range []struct {
		sku string
		qty int64
	}{{plenty, plentyQty}, {scarce, scarceQty}} {
		if err := d.c.do(ctx, http.MethodPost, d.gw.inventory+"/stock/"+s.sku, nil, map[string]any{"quantity": s.qty}, nil); err != nil {
			return fmt.Errorf("stock %s: %w", s.sku, err)
		}
	}
	fmt.Fprintf(d.out, "accounts: %s %s, %s %s; stock: %s ×%d, %s ×%d\n",
		rich, money(richBalance), poor, money(poorBalance), plenty, plentyQty, scarce, scarceQty)
	return nil
}

// place POSTs the order with an Idempotency-Key, so that trying again
// after a failure that may have reached the service is safe: the same key
// answers with the same order.
func (d demo) place(ctx context.Context, o *demoOrder) error {
	h := http.Header{"Idempotency-Key": {rand.Text()}}
	body := map[string]any{"customer": o.customer, "items": o.items}
	var got struct {
		ID string `json:"id"`
	}
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		err = d.c.do(ctx, http.MethodPost, d.gw.order+"/orders", h, body, &got)
		if s := statusOf(err); err == nil || (s != 0 && s != http.StatusBadGateway && s != http.StatusServiceUnavailable) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("place an order for %s: %w", o.customer, err)
	}
	o.id = got.ID
	return nil
}

// await polls the order until it leaves PENDING, then reads what its
// outcome did to the customer's account and whether the customer was
// notified.
func (d demo) await(ctx context.Context, o *demoOrder) error {
	var view struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
		Total  int64  `json:"total"`
	}
	o.state = statePending
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if err := d.c.do(ctx, http.MethodGet, d.gw.order+"/orders/"+url.PathEscape(o.id), nil, nil, &view); err != nil {
			return false, err
		}
		return view.State != statePending, nil
	})
	o.state, o.reason, o.total = view.State, view.Reason, view.Total
	if err != nil {
		return fmt.Errorf("no outcome: %w", err)
	}
	if o.state == stateCancelled {
		var acct struct {
			Charges map[string]struct {
				Amount   int64 `json:"amount"`
				Refunded bool  `json:"refunded"`
			} `json:"charges"`
		}
		if err := d.c.do(ctx, http.MethodGet, d.gw.payment+"/accounts/"+url.PathEscape(o.customer), nil, nil, &acct); err != nil {
			return err
		}
		if c, ok := acct.Charges[o.id]; ok && c.Refunded {
			o.refunded = c.Amount
		} else if ok {
			return fmt.Errorf("cancelled, but the charge of %s was not refunded", money(c.Amount))
		}
	}
	if d.gw.notification == "" {
		return nil
	}
	return poll(ctx, 100*time.Millisecond, func() (bool, error) {
		var ns struct {
			Notifications []struct{} `json:"notifications"`
		}
		err := d.c.do(ctx, http.MethodGet, d.gw.notification+"/notifications?order="+url.QueryEscape(o.id), nil, nil, &ns)
		o.notified = len(ns.Notifications) > 0
		return o.notified, err
	})
}

func (d demo) print(placed []*demoOrder) {
	fmt.Fprintln(d.out)
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tCUSTOMER\tITEMS\tTOTAL\tOUTCOME")
	for _, o := range placed {
		var items []string
		for _, it := range o.items {
			items = append(items, fmt.Sprintf("%d × %s @ %s", it.Quantity, it.SKU, money(it.UnitPrice)))
		}
		outcome := o.state
		switch {
		case o.state == stateCancelled && o.refunded > 0:
			outcome += fmt.Sprintf(" (%s: charged %s, refunded)", o.reason, money(o.refunded))
		case o.state == stateCancelled:
			outcome += fmt.Sprintf(" (%s: nothing charged)", o.reason)
		case o.state == statePending:
			outcome += " (no outcome in time)"
		}
		if o.notified {
			outcome += ", customer notified"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.id, o.customer, strings.Join(items, ", "), money(o.total), outcome)
	}
	_ = tw.Flush()
	fmt.Fprintln(d.out)
}

func (d demo) howTo() {
	fmt.Fprintf(d.out, `Orders are taken at %[1]s (balanced over the order peers). Place one:

  curl -s %[1]s/orders -H 'Content-Type: application/json' -H 'Idempotency-Key: try-1' \
    -d '{"customer":"%[2]s","items":[{"sku":"%[3]s","quantity":1,"unit_price":%[4]d}]}'

(sent again with the same Idempotency-Key, it answers with the same order), then follow it:

  curl -s %[1]s/orders/<id>
  curl -s '%[1]s/orders?state=CANCELLED&limit=10'

`, d.gw.order, rich, plenty, teaPrice)
}

// money formats cents as dollars.
func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}
