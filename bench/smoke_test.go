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
	tests := []struct {
		name string
		args []string
		keys []string // the last line: these keys, in this order, each with a number
	}{
		{"transport", []string{"-duration", "100ms", "-slices", "2", "-concurrency", "8"},
			[]string{"p50_ratio", "p99_ratio", "throughput_ratio", "codec_p50_ratio", "codec_p99_ratio", "codec_throughput_ratio"}},
		{"saga", []string{"-d", "300ms", "-workers", "8"},
			[]string{"redis_sagas_per_s", "redis_p99_ms", "round_trips_per_transition"}},
		{"eventstore", []string{"-duration", "200ms", "-latency-n", "40", "-rate", "200"},
			[]string{"appends_per_s", "appends_no_outbox_per_s", "outbox_p50_ms", "outbox_p99_ms", "durable"}},
		{"report", []string{"-quick", "-only", "mediator,scaling", "-out", t.TempDir(), "-readme", ""},
			[]string{"goals_met", "goals_missed", "mediator_send_ns", "transport_p99_ratio", "orders_500_p99_ms", "scaling_efficiency_3", "responder_failover_ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command("go", append([]string{"run", "./" + tt.name}, tt.args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("go run ./%s: %v\n%s", tt.name, err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			last := lines[len(lines)-1]
			want := lastLine(tt.keys)
			if !want.MatchString(last) {
				t.Fatalf("last line %q does not match %s\n%s", last, want, out)
			}
		})
	}
}

// lastLine matches "k1=<number> k2=<number> ..." with exactly keys, in order.
func lastLine(keys []string) *regexp.Regexp {
	fields := make([]string, len(keys))
	for i, k := range keys {
		fields[i] = regexp.QuoteMeta(k) + `=[0-9]+(\.[0-9]+)?`
	}
	return regexp.MustCompile("^" + strings.Join(fields, " ") + "$")
}
