package scenario

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/catga-go/catga/bench/harness"
	"github.com/catga-go/catga/libs/catga/mediator"
)

type medCmd struct {
	OrderID string
	Amount  int64
}

type medRes struct {
	OrderID string
	Status  int
}

type medEvent struct {
	OrderID string
	Amount  int64
}

// direct is the baseline: the same handler called through a function
// value, so the compiler cannot inline it away, as Send cannot be either.
var direct = func(_ context.Context, c medCmd) (medRes, error) { return medRes{OrderID: c.OrderID, Status: 1}, nil }

// MedCase is one mediator benchmark's figures.
type MedCase struct {
	Name        string
	NsPerOp     float64
	AllocsPerOp int64
}

// Mediator benchmarks Send (bare and through two middlewares) and Publish
// to two handlers next to a direct call, each the median of runs
// testing.Benchmark runs.
func Mediator(runs int) (harness.Section, []harness.Goal, []MedCase, error) {
	bare := mediator.New()
	if err := mediator.Handle(bare, direct); err != nil {
		return harness.Section{}, nil, nil, err
	}
	pass := func(next mediator.Handler) mediator.Handler {
		return func(ctx context.Context, msg mediator.Message) error { return next(ctx, msg) }
	}
	withMW := mediator.New(mediator.WithMiddleware(pass, pass))
	if err := mediator.Handle(withMW, direct); err != nil {
		return harness.Section{}, nil, nil, err
	}
	pub := mediator.New()
	var sum int64
	for range 2 {
		if err := mediator.Subscribe(pub, func(_ context.Context, e medEvent) error { sum += e.Amount; return nil }); err != nil {
			return harness.Section{}, nil, nil, err
		}
	}
	ctx := context.Background()
	cmd := medCmd{OrderID: "order-1", Amount: 4200}
	errBad := errors.New("catga: bench: wrong answer")
	var failed error
	send := func(m *mediator.Mediator) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r, err := mediator.Send[medRes](ctx, m, cmd); err != nil || r.Status != 1 {
					failed = errors.Join(err, errBad)
				}
			}
		}
	}
	cases := []struct {
		name string
		f    func(b *testing.B)
	}{
		{"direct call (baseline)", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r, err := direct(ctx, cmd); err != nil || r.Status != 1 {
					failed = errBad
				}
			}
		}},
		{"Send", send(bare)},
		{"Send, 2 middlewares", send(withMW)},
		{"Publish to 2 handlers", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := mediator.Publish(ctx, pub, medEvent{OrderID: "order-1", Amount: 1}); err != nil {
					failed = err
				}
			}
		}},
	}
	var out []MedCase
	for _, c := range cases {
		var ns []float64
		var allocs int64
		for range max(runs, 1) {
			r := testing.Benchmark(c.f)
			if r.N == 0 {
				return harness.Section{}, nil, nil, fmt.Errorf("catga: bench: mediator %s did not run", c.name)
			}
			ns = append(ns, float64(r.T.Nanoseconds())/float64(r.N))
			allocs = max(allocs, r.AllocsPerOp())
		}
		out = append(out, MedCase{Name: c.name, NsPerOp: harness.Median(ns), AllocsPerOp: allocs})
	}
	if failed != nil {
		return harness.Section{}, nil, nil, failed
	}
	if sum == 0 {
		return harness.Section{}, nil, nil, errors.New("catga: bench: Publish handlers never ran")
	}
	base := out[0].NsPerOp
	t := harness.Table{Header: []string{"case", "ns/op", "allocs/op", "× direct call"}}
	for _, c := range out {
		t.Rows = append(t.Rows, []string{c.Name, fmt.Sprintf("%.1f", c.NsPerOp), fmt.Sprint(c.AllocsPerOp), fmt.Sprintf("%.1f", c.NsPerOp/base)})
	}
	sec := harness.Section{
		Title: "1. Mediator",
		Text: fmt.Sprintf("In-process dispatch with `testing.Benchmark`, the median of %d runs each (allocs: the largest seen). "+
			"The baseline calls the same handler through a function value.", max(runs, 1)),
		Tables: []harness.Table{t},
	}
	s := out[1]
	goal := harness.Check("Mediator Send", "≤ 25 ns and 0 allocs/op",
		fmt.Sprintf("%.1f ns, %d allocs/op (direct call %.1f ns)", s.NsPerOp, s.AllocsPerOp, base), s.NsPerOp <= 25 && s.AllocsPerOp == 0)
	return sec, []harness.Goal{goal}, out, nil
}
