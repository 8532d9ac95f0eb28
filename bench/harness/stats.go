package harness

import (
	"slices"
	"time"
)

// Median of xs (the mean of the middle two for an even count); 0 when empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MedianDuration is Median over durations.
func MedianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(Median(xs))
}

// Efficiency is throughput with n peers over n times throughput with one:
// 1 is perfect scaling. 0 when one peer's throughput is 0.
func Efficiency(tputN, tput1 float64, n int) float64 {
	if tput1 <= 0 || n <= 0 {
		return 0
	}
	return tputN / (float64(n) * tput1)
}
