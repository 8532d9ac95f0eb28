package saga_test

import (
	"context"
	"testing"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
)

// BenchmarkRunMemory: a 3-step no-op saga on the memory store, the engine's
// own cost per saga.
func BenchmarkRunMemory(b *testing.B) {
	e := saga.New(memory.New())
	defer func() { _ = e.Close(context.Background()) }()
	noop := func(context.Context, *order) error { return nil }
	s, err := saga.Register(e, saga.Definition[order]{Name: "bench", Steps: []saga.Step[order]{
		{Name: "a", Action: noop, Compensate: noop}, {Name: "b", Action: noop, Compensate: noop}, {Name: "c", Action: noop},
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Run(ctx, "", order{ID: "b"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
