// Package scenario holds the benchmark report's scenarios: each runs
// bounded in time, measures a figure next to a baseline from the same run,
// and returns a harness.Section and the goals it is judged against.
// bench/report runs them in order and writes the report.
package scenario
