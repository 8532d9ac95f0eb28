package scenario

import (
	"fmt"
	"io"

	"github.com/catga-go/catga/bench/harness"
	"github.com/catga-go/catga/bench/transportbench"
)

// Transport runs transportbench (ours over NATS vs raw nc.Request and a
// same-codec baseline, in alternating slices) and reports its figures;
// its own table goes to log.
func Transport(cfg transportbench.Config, log io.Writer) (harness.Section, []harness.Goal, transportbench.Result, error) {
	r, err := transportbench.Run(cfg, log)
	if err != nil {
		return harness.Section{}, nil, r, err
	}
	t := harness.Table{Header: []string{"mode", "side", "p50", "p99", "req/s", "CPU/req"}}
	for _, s := range r.Sides {
		t.Rows = append(t.Rows, []string{s.Mode, s.Name, fmtDur(s.P50), fmtDur(s.P99), fmt.Sprintf("%.0f", s.PerSec), fmtDur(s.CPUPerReq)})
	}
	ratios := harness.Table{Header: []string{"ratio (median of per-slice ratios)", "ours / raw", "ours / same-codec"}, Rows: [][]string{
		{"serial p50", f2(r.P50Ratio), f2(r.CodecP50Ratio)},
		{"serial p99", f2(r.P99Ratio), f2(r.CodecP99Ratio)},
		{"concurrent throughput", f2(r.ThroughputRatio), f2(r.CodecThroughputRatio)},
	}}
	sec := harness.Section{
		Title: "2. Transport",
		Text: "`mediator.Send` over the NATS transport (`ours`) against raw `nc.Request` echoing bytes (`raw`, the baseline), " +
			"raw with one header (`hdr`, reference) and raw plus the transport's JSON codec and headers (`codec`, same-codec baseline), " +
			"embedded nats-server on loopback, 256-byte payload. Each slice runs every side once in random order, so noise hits all alike; " +
			"ratios are the median of per-slice ratios (`make bench-transport`).",
		Tables: []harness.Table{ratios, t},
	}
	goal := harness.Check("Transport p99 ratio (serial, ours / raw)", "≤ 1.25", f2(r.P99Ratio), r.P99Ratio <= 1.25)
	return sec, []harness.Goal{goal}, r, nil
}
