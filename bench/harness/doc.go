// Package harness is what the benchmark report's scenarios share: latency
// histograms (HDR, so percentiles stay exact to three significant digits
// whatever the spread), open-loop load at a fixed rate with latency taken
// from each request's intended start (so a stall is charged to every
// request it delays: no coordinated omission), the machine's description
// for the report's header, Markdown rendering of the report with its goals
// stated as met or missed, and SVG charts drawn with gonum/plot.
//
// It holds no scenario: those live in package scenario, and the program
// behind `make bench-report` (bench/report) runs them.
package harness
