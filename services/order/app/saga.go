package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/domain"
)

// Payments charges and refunds customers.
//
// Contract: each call is a saga step call; ctx carries the saga's
// catga.Metadata (idempotency key, epoch), which the implementation passes
// to the participant so that it applies each key once and refuses stale
// owners. A refusal (insufficient funds, unknown account) is a
// *catga.RejectionError carrying the contract's code.
type Payments interface {
	Charge(ctx context.Context, c contracts.Charge) (contracts.Charged, error)
	Refund(ctx context.Context, r contracts.Refund) (contracts.Refunded, error)
}

// Inventory reserves and releases stock, with the contract of [Payments].
type Inventory interface {
	Reserve(ctx context.Context, r contracts.Reserve) (contracts.Reserved, error)
	Release(ctx context.Context, r contracts.Release) (contracts.Released, error)
}

// SagaName is the order saga's definition name; its saga ids are order ids.
const SagaName = "order"

// The saga's steps, by index.
const (
	StepOrder = iota
	StepCharge
	StepReserve
	StepComplete
)

// StepNames names the saga's steps, by index.
var StepNames = []string{StepOrder: "order", StepCharge: "charge", StepReserve: "reserve", StepComplete: "complete"}

// SagaData is the order saga's data.
type SagaData struct {
	OrderID  string           `json:"order_id"`
	Customer string           `json:"customer"`
	Items    []contracts.Item `json:"items"`
	Total    int64            `json:"total"`
	// Trace is the W3C trace context the saga was started in: the order's
	// trace, which every step continues.
	Trace map[string]string `json:"trace,omitempty"`
}

// Retry policies. Participants apply each step key once, so retrying a call
// whose reply was lost is safe. Compensations retry long: the alternative
// is a Stuck saga waiting for an operator.
var (
	actionRetry       = saga.RetryPolicy{MaxAttempts: 5, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
	completeRetry     = saga.RetryPolicy{MaxAttempts: 10, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second}
	compensationRetry = saga.RetryPolicy{MaxAttempts: 30, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
	stepTimeout       = 15 * time.Second
)

// definition is the order saga:
//
//  0. order: does nothing; its compensation cancels the order. Being the
//     first step, it is compensated last, after the refund and the
//     release, by whichever peer owns the saga then.
//  1. charge the customer (compensation: refund);
//  2. reserve every item (compensation: release);
//  3. complete the order.
//
// A rejected charge is refunded (nothing to undo at payment, whose fence
// then refuses a replay of the charge) and the order cancelled with the
// rejection's code. A rejected reservation is released the same way, then
// refunded, then cancelled.
func (s *Service) definition(pay Payments, inv Inventory) saga.Definition[SagaData] {
	return saga.Definition[SagaData]{
		Name: SagaName,
		Steps: []saga.Step[SagaData]{
			StepOrder: {
				Name:              StepNames[StepOrder],
				Action:            func(context.Context, *SagaData) error { return nil },
				Compensate:        s.cancel,
				CompensationRetry: compensationRetry,
			},
			StepCharge: {
				Name: StepNames[StepCharge],
				Action: func(ctx context.Context, d *SagaData) error {
					return traced(ctx, d, "charge", func(ctx context.Context) error {
						res, err := pay.Charge(ctx, contracts.Charge{OrderID: d.OrderID, Customer: d.Customer, Amount: d.Total})
						if err != nil {
							return err
						}
						return saga.SetResult(ctx, res)
					})
				},
				Compensate: func(ctx context.Context, d *SagaData) error {
					return traced(ctx, d, "refund", func(ctx context.Context) error {
						_, err := pay.Refund(ctx, contracts.Refund{OrderID: d.OrderID, Customer: d.Customer, Amount: d.Total})
						return err
					})
				},
				Timeout: stepTimeout, Retry: actionRetry, CompensationRetry: compensationRetry,
			},
			StepReserve: {
				Name: StepNames[StepReserve],
				Action: func(ctx context.Context, d *SagaData) error {
					return traced(ctx, d, "reserve", func(ctx context.Context) error {
						_, err := inv.Reserve(ctx, contracts.Reserve{OrderID: d.OrderID, Lines: domain.Lines(d.Items)})
						return err
					})
				},
				Compensate: func(ctx context.Context, d *SagaData) error {
					return traced(ctx, d, "release", func(ctx context.Context) error {
						_, err := inv.Release(ctx, contracts.Release{OrderID: d.OrderID})
						return err
					})
				},
				Timeout: stepTimeout, Retry: actionRetry, CompensationRetry: compensationRetry,
			},
			StepComplete: {
				Name: StepNames[StepComplete],
				Action: func(ctx context.Context, d *SagaData) error {
					return traced(ctx, d, "complete", func(ctx context.Context) error {
						_, err := Orders.Handle(ctx, s.store, d.OrderID, func(o domain.Order) ([]any, error) { return domain.Complete(o, s.now()) })
						return permanentIfDomain(err)
					})
				},
				Timeout: stepTimeout, Retry: completeRetry,
			},
		},
	}
}

// cancel is step 0's compensation: it appends order.cancelled, with the
// reason read from the saga's persisted record. Cancelling a cancelled
// order appends nothing, so a repeat (another owner, a retry) is harmless.
func (s *Service) cancel(ctx context.Context, d *SagaData) error {
	return traced(ctx, d, "cancel", func(ctx context.Context) error { return s.appendCancelled(ctx, d) })
}

func (s *Service) appendCancelled(ctx context.Context, d *SagaData) error {
	rec, err := s.sagas.Get(ctx, d.OrderID)
	if err != nil {
		return fmt.Errorf("catga: order %s: read saga for the cancellation reason: %w", d.OrderID, err)
	}
	reason := CancelReason(rec)
	_, err = Orders.Handle(ctx, s.store, d.OrderID, func(o domain.Order) ([]any, error) { return domain.Cancel(o, reason, s.now()) })
	return permanentIfDomain(err)
}

// permanentIfDomain marks the domain's refusals (a closed or missing
// order) permanent: retrying cannot change them. Store failures stay
// retryable.
func permanentIfDomain(err error) error {
	if errors.Is(err, domain.ErrClosed) || errors.Is(err, domain.ErrNotFound) {
		return catga.Permanent(err)
	}
	return err
}

// Cancellation reasons besides the participants' rejection codes.
const (
	ReasonDeadline = "deadline_exceeded"
	ReasonOperator = "cancelled_by_operator"
	ReasonUnknown  = "cancelled"
)

// CancelReason is why a saga that is compensating (or compensated)
// failed: the rejection code the engine recorded for the step that failed
// (sagastore.StepState.Code: insufficient_funds,
// out_of_stock, ...), "<step>_failed" when it failed otherwise (a
// participant unreachable past the retries), [ReasonDeadline], or
// [ReasonOperator] when an operator forced the compensation.
func CancelReason(rec saga.Record) string {
	for i := len(rec.History) - 1; i >= 0; i-- {
		ev := rec.History[i]
		switch ev.What {
		case sagastore.EventFailed:
			if ev.Step >= 0 && ev.Step < len(rec.Steps) && rec.Steps[ev.Step].Code != "" {
				return rec.Steps[ev.Step].Code
			}
			if strings.Contains(ev.Error, saga.ErrDeadline.Error()) {
				return ReasonDeadline
			}
			if ev.Step >= 0 && ev.Step < len(StepNames) {
				return StepNames[ev.Step] + "_failed"
			}
			return ReasonUnknown
		case sagastore.EventForcedCompensation:
			return ReasonOperator
		}
	}
	return ReasonUnknown
}
