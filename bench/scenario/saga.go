package scenario

import (
	"fmt"
	"io"

	"github.com/catga-go/catga/bench/harness"
	"github.com/catga-go/catga/bench/sagabench"
)

// Saga runs sagabench: 3-step no-op sagas on a local Redis Cluster, with
// the memory store as the baseline.
func Saga(cfg sagabench.Config, log io.Writer) (harness.Section, []harness.Goal, sagabench.Figures, error) {
	f, err := sagabench.Run(cfg, log)
	if err != nil {
		return harness.Section{}, nil, f, err
	}
	t := harness.Table{Header: []string{"store", "sagas", "sagas/s", "p50", "p99", "Redis round trips / transition"}}
	for _, r := range []struct {
		name string
		r    sagabench.Result
	}{{"memory (baseline)", f.Memory}, {"Redis Cluster (6 nodes)", f.Redis}} {
		t.Rows = append(t.Rows, []string{r.name, fmt.Sprint(r.r.Sagas()), fmt.Sprintf("%.0f", r.r.PerSec()), fmtDur(r.r.P50()), fmtDur(r.r.P99()), f2(r.r.RoundTripsPerTransition())})
	}
	sec := harness.Section{
		Title: "Saga engine",
		Text: fmt.Sprintf("3-step sagas with no-op steps, %d concurrent, closed loop (the engine's capacity, not a latency under a fixed rate), "+
			"on the in-memory store (baseline) and a local 6-node Redis Cluster (`make bench-saga`).", cfg.Workers),
		Tables: []harness.Table{t},
	}
	r := f.Redis
	goal := harness.Check("Sagas on the Redis Cluster", "≥ 2,000 sagas/s with p99 ≤ 20 ms",
		fmt.Sprintf("%.0f sagas/s, p99 %s", r.PerSec(), fmtDur(r.P99())), r.PerSec() >= 2000 && harness.Ms(r.P99()) <= 20)
	return sec, []harness.Goal{goal}, f, nil
}
