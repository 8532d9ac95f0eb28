// Package bench holds the benchmark programs behind the `make bench-*`
// targets, one directory each. This test runs each of them briefly so that
// they cannot rot: each must finish and end with its key=value line.
package bench

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

func TestBenchProgramsEndWithTheirFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS, a Redis Cluster and PostgreSQL; skipped in -short mode")
	}
	num := `[0-9]+(\.[0-9]+)?`
	tests := []struct {
		name     string
		args     []string
		lastLine string
	}{
		{"transport", []string{"-duration", "100ms", "-slices", "2", "-concurrency", "8"},
			`^p50_ratio=` + num + ` p99_ratio=` + num + ` throughput_ratio=` + num + `$`},
		{"saga", []string{"-d", "300ms", "-workers", "8"},
			`^redis_sagas_per_s=` + num + ` redis_p99_ms=` + num + ` round_trips_per_transition=` + num + `$`},
		{"eventstore", []string{"-duration", "200ms", "-latency-n", "40", "-rate", "200"},
			`^appends_per_s=` + num + ` outbox_p50_ms=` + num + ` outbox_p99_ms=` + num + `$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command("go", append([]string{"run", "./" + tt.name}, tt.args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("go run ./%s: %v\n%s", tt.name, err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			last := lines[len(lines)-1]
			if !regexp.MustCompile(tt.lastLine).MatchString(last) {
				t.Fatalf("last line %q does not match %s\n%s", last, tt.lastLine, out)
			}
		})
	}
}
