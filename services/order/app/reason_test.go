package app_test

import (
	"testing"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/services/order/app"
)

func TestCancelReason(t *testing.T) {
	failed := func(step int, err string) sagastore.Event {
		return sagastore.Event{Step: step, What: sagastore.EventFailed, Error: err}
	}
	tests := []struct {
		name    string
		history []sagastore.Event
		want    string
	}{
		{"declined charge", []sagastore.Event{failed(1, "catga: saga o1 step 1 action (attempt 1): catga: rejected (insufficient_funds): balance 100 below 2500")}, "insufficient_funds"},
		{"refused reservation", []sagastore.Event{failed(2, "catga: saga o1 step 2 action (attempt 1): catga: rejected (out_of_stock): pen: 0 left")}, "out_of_stock"},
		{"participant unreachable", []sagastore.Event{failed(1, "catga: saga o1 step 1 action (attempt 5): catga: no responders")}, "charge_failed"},
		{"deadline", []sagastore.Event{failed(2, "catga: saga deadline exceeded (step 2)")}, app.ReasonDeadline},
		{"operator", []sagastore.Event{{What: sagastore.EventForcedCompensation}}, app.ReasonOperator},
		{"the last failure counts", []sagastore.Event{failed(1, "x"), {What: sagastore.EventRetried}, failed(2, "catga: rejected (out_of_stock): y")}, "out_of_stock"},
		{"no failure recorded", []sagastore.Event{{What: sagastore.EventCreated}}, app.ReasonUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := app.CancelReason(saga.Record{History: tt.history}); got != tt.want {
				t.Fatalf("CancelReason = %q, want %q", got, tt.want)
			}
		})
	}
}
