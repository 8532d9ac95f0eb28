package harness

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency bounds: a histogram holds 1µs to 5 min with 3 significant digits;
// a value outside is clamped to the bound (and counted), never dropped.
const (
	minLatency = time.Microsecond
	maxLatency = 5 * time.Minute
)

// Hist is a latency histogram. The zero value is not usable: call NewHist.
// It is not safe for concurrent use; guard it or merge per-goroutine ones.
type Hist struct{ h *hdrhistogram.Histogram }

// NewHist returns an empty histogram.
func NewHist() *Hist {
	return &Hist{h: hdrhistogram.New(int64(minLatency/time.Microsecond), int64(maxLatency/time.Microsecond), 3)}
}

// Record adds one latency.
func (h *Hist) Record(d time.Duration) {
	us := int64(d / time.Microsecond)
	us = max(us, int64(minLatency/time.Microsecond))
	us = min(us, int64(maxLatency/time.Microsecond))
	_ = h.h.RecordValue(us) // cannot fail: clamped into range
}

// Merge adds every latency of o.
func (h *Hist) Merge(o *Hist) { h.h.Merge(o.h) }

// Count is how many latencies were recorded.
func (h *Hist) Count() int64 { return h.h.TotalCount() }

// Quantile is the latency at or below which the fraction q (0..1) of the
// recorded ones lie; 0 when empty.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.h.ValueAtQuantile(q*100)) * time.Microsecond
}

// Max is the largest latency recorded (to the histogram's precision).
func (h *Hist) Max() time.Duration { return time.Duration(h.h.Max()) * time.Microsecond }

// Summary is the usual percentiles of a histogram.
type Summary struct {
	N                  int64
	P50, P95, P99, Max time.Duration
}

// Summary returns h's count and percentiles.
func (h *Hist) Summary() Summary {
	return Summary{N: h.Count(), P50: h.Quantile(.50), P95: h.Quantile(.95), P99: h.Quantile(.99), Max: h.Max()}
}

// Ms is d in milliseconds, for tables and charts.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
