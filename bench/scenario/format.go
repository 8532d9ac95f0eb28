package scenario

import (
	"fmt"
	"time"
)

// fmtDur prints a latency with three significant digits in a unit that
// suits it.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3f s", d.Seconds())
	}
}

func f2(x float64) string { return fmt.Sprintf("%.2f", x) }

func pct(x float64) string { return fmt.Sprintf("%.1f%%", x*100) }
