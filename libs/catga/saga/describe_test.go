package saga_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
)

func TestShapes(t *testing.T) {
	e := saga.New(memory.New())
	nop := func(context.Context, *struct{}) error { return nil }
	for _, def := range []saga.Definition[struct{}]{
		{Name: "zeta", Steps: []saga.Step[struct{}]{{Name: "only", Action: nop}}},
		{Name: "alpha", Steps: []saga.Step[struct{}]{
			{Name: "charge", Action: nop, Compensate: nop},
			{Name: "ship", Action: nop},
		}},
	} {
		if _, err := saga.Register(e, def); err != nil {
			t.Fatal(err)
		}
	}
	want := []saga.Shape{
		{Name: "alpha", Steps: []saga.StepShape{{Name: "charge", Compensable: true}, {Name: "ship"}}},
		{Name: "zeta", Steps: []saga.StepShape{{Name: "only"}}},
	}
	if got := e.Shapes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Shapes() = %+v, want %+v", got, want)
	}
}
