package harness

import (
	"math"
	"testing"
	"time"
)

func TestHistPercentiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, .99, 0},
		{"one value", []time.Duration{7 * time.Millisecond}, .5, 7 * time.Millisecond},
		{"p50 of 1..1000ms", seq(1000, time.Millisecond), .50, 500 * time.Millisecond},
		{"p99 of 1..1000ms", seq(1000, time.Millisecond), .99, 990 * time.Millisecond},
		{"p100 is the max", seq(1000, time.Millisecond), 1, 1000 * time.Millisecond},
		{"below the floor counts at 1µs", []time.Duration{10 * time.Nanosecond}, .5, time.Microsecond},
		{"above the ceiling is clamped", []time.Duration{time.Hour}, .5, maxLatency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHist()
			for _, v := range tt.values {
				h.Record(v)
			}
			got := h.Quantile(tt.q)
			// HDR with 3 significant digits: within 0.1%.
			if diff := math.Abs(float64(got - tt.want)); diff > float64(tt.want)/1000 {
				t.Fatalf("Quantile(%v) = %v, want %v (±0.1%%)", tt.q, got, tt.want)
			}
		})
	}
}

func TestHistSummaryAndMerge(t *testing.T) {
	a, b := NewHist(), NewHist()
	for _, v := range seq(900, time.Millisecond) {
		a.Record(v)
	}
	for range 100 {
		b.Record(2 * time.Second) // a slow tail in another histogram
	}
	a.Merge(b)
	s := a.Summary()
	if s.N != 1000 {
		t.Fatalf("N = %d, want 1000", s.N)
	}
	if s.P50 > 501*time.Millisecond || s.P50 < 499*time.Millisecond {
		t.Errorf("p50 = %v, want 500ms", s.P50)
	}
	if s.P95 < 1990*time.Millisecond || s.P99 < 1990*time.Millisecond || s.Max < 1990*time.Millisecond {
		t.Errorf("p95 %v, p99 %v, max %v: want the merged 2s tail", s.P95, s.P99, s.Max)
	}
}

func TestMedianAndEfficiency(t *testing.T) {
	if got := Median([]float64{5, 1, 3}); got != 3 {
		t.Errorf("Median odd = %v", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median even = %v", got)
	}
	if got := Median(nil); got != 0 {
		t.Errorf("Median empty = %v", got)
	}
	if got := MedianDuration([]time.Duration{3, 1, 2}); got != 2 {
		t.Errorf("MedianDuration = %v", got)
	}
	if got := Efficiency(2700, 1000, 3); math.Abs(got-0.9) > 1e-9 {
		t.Errorf("Efficiency = %v, want 0.9", got)
	}
	if got := Efficiency(100, 0, 3); got != 0 {
		t.Errorf("Efficiency with no baseline = %v, want 0", got)
	}
}

func seq(n int, unit time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * unit
	}
	return out
}
