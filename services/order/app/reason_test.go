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
	rejected := func(code string) sagastore.StepState {
		return sagastore.StepState{Status: sagastore.StepFailed, Rejected: true, Code: code}
	}
	none := sagastore.StepState{}
	tests := []struct {
		name    string
		steps   []sagastore.StepState
		history []sagastore.Event
		want    string
	}{
		{"declined charge", []sagastore.StepState{none, rejected("insufficient_funds"), none, none},
			[]sagastore.Event{failed(1, "catga: rejected (insufficient_funds): balance 100 below 2500")}, "insufficient_funds"},
		{"refused reservation", []sagastore.StepState{none, none, rejected("out_of_stock"), none},
			[]sagastore.Event{failed(2, "catga: rejected (out_of_stock): pen: 0 left")}, "out_of_stock"},
		{"participant unreachable", []sagastore.StepState{none, {Status: sagastore.StepFailed}, none, none},
			[]sagastore.Event{failed(1, "catga: saga o1 step 1 action (attempt 5): catga: no responders")}, "charge_failed"},
		{"deadline", []sagastore.StepState{none, none, {Status: sagastore.StepFailed}, none},
			[]sagastore.Event{failed(2, "catga: saga deadline exceeded (step 2)")}, app.ReasonDeadline},
		{"operator", nil, []sagastore.Event{{What: sagastore.EventForcedCompensation}}, app.ReasonOperator},
		{"the last failure counts", []sagastore.StepState{none, {Status: sagastore.StepFailed}, rejected("out_of_stock"), none},
			[]sagastore.Event{failed(1, "x"), {What: sagastore.EventRetried}, failed(2, "y")}, "out_of_stock"},
		{"no failure recorded", nil, []sagastore.Event{{What: sagastore.EventCreated}}, app.ReasonUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := app.CancelReason(saga.Record{Steps: tt.steps, History: tt.history}); got != tt.want {
				t.Fatalf("CancelReason = %q, want %q", got, tt.want)
			}
		})
	}
}
