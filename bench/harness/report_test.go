package harness

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReportMarkdown(t *testing.T) {
	r := &Report{
		Title:   "Catga-Go benchmark report",
		Machine: Machine{CPU: "Test CPU", Cores: 2, MemoryGiB: 3.5, Kernel: "linux 6.1", Go: "go1.26.0", Commit: "abc123", LoadAvg: "0.50 0.40 0.30"},
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Took: 61 * time.Second, LoadEnd: "1.00 0.80 0.60",
		Goals: []Goal{
			Check("Mediator Send", "≤ 25 ns, 0 allocs", "12.0 ns, 0 allocs", true),
			Check("Orders p99", "≤ 50 ms", "71.3 ms", false),
			Unmeasured("Redis master kill", "≤ node-timeout + 2.5 s", "not measured: no process-level Redis failover in this run"),
		},
		Sections: []Section{{
			Title: "Mediator", Text: "Send vs a direct call.",
			Tables: []Table{{Header: []string{"case", "ns/op"}, Rows: [][]string{{"direct | call", "1.0"}, {"send"}}}},
			Charts: []Chart{{Path: "mediator.svg", Caption: "ns/op"}},
		}},
	}
	var b bytes.Buffer
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# Catga-Go benchmark report\n",
		"| machine | Test CPU, 2 cores, 3.5 GiB, linux 6.1 |",
		"| Go | go1.26.0 |", "| commit | `abc123` |",
		"| started | 2026-01-02T03:04:05Z, took 1m1s |",
		"at start 0.50 0.40 0.30, at end 1.00 0.80 0.60",
		"| Mediator Send | ≤ 25 ns, 0 allocs | 12.0 ns, 0 allocs | met |",
		"| Orders p99 | ≤ 50 ms | 71.3 ms | **missed** |",
		"| not measured |",
		"## Mediator\n\nSend vs a direct call.\n\n| case | ns/op |\n|---|---|\n",
		`| direct \| call | 1.0 |`, // a pipe in a cell does not split it
		"| send |  |",              // a short row is padded
		"![ns/op](mediator.svg)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Index(md, "## Summary: goals") > strings.Index(md, "## Mediator") {
		t.Error("the summary must come before the sections")
	}
}

func TestCharts(t *testing.T) {
	dir := t.TempDir()
	line := filepath.Join(dir, "line.svg")
	err := LineChart(line, LineSpec{Title: "p99", XLabel: "offered /s", YLabel: "ms", LogY: true, Series: []Series{
		{Name: "1 peer", X: []float64{100, 200}, Y: []float64{3, 0}}, // a 0 has no place on a log scale: skipped
		{Name: "goal", X: []float64{100, 200}, Y: []float64{50, 50}, Dashed: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	bar := filepath.Join(dir, "bar.svg")
	if err := BarChart(bar, BarSpec{Title: "recovery", YLabel: "ms", Series: []string{"median", "goal"}, Bars: []Bar{{"kill", []float64{10, 50}}, {"term", []float64{1, 2}}}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{line, bar} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("</svg>")) {
			t.Fatalf("%s is not an SVG document: %.200s", p, b)
		}
	}
	if err := LineChart(filepath.Join(dir, "x.png"), LineSpec{}); err == nil {
		t.Error("a .png path: no error")
	}
	if err := LineChart(filepath.Join(dir, "y.svg"), LineSpec{Series: []Series{{X: []float64{1}}}}); err == nil {
		t.Error("mismatched x and y: no error")
	}
	if err := BarChart(filepath.Join(dir, "z.svg"), BarSpec{Series: []string{"a", "b"}, Bars: []Bar{{"x", []float64{1}}}}); err == nil {
		t.Error("a bar short of values: no error")
	}
}

func TestDescribe(t *testing.T) {
	m := Describe()
	if m.Cores < 1 || !strings.HasPrefix(m.Go, "go") || m.LoadAvg == "" || m.Commit == "" {
		t.Fatalf("Describe() = %+v", m)
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "# X\n\nbefore\n" + ReadmeStart + "\nold table\n" + ReadmeEnd + "\nafter\n"
	got, err := ReplaceSection(doc, "new table\n\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# X\n\nbefore\n" + ReadmeStart + "\nnew table\n" + ReadmeEnd + "\nafter\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Idempotent: the markers stay, so the next report replaces it again.
	if again, _ := ReplaceSection(got, "new table"); again != want {
		t.Fatalf("second replace: %q", again)
	}
	if _, err := ReplaceSection("no markers", "x"); !errors.Is(err, ErrNoMarkers) {
		t.Fatalf("err = %v, want ErrNoMarkers", err)
	}
	rep := &Report{Machine: Machine{CPU: "C", Cores: 2, Go: "go1.26", Commit: "abc", LoadAvg: "1 2 3"}, Goals: []Goal{Check("g", "t", "f", true)}}
	s := ReadmeSummary(rep, "bench/results/report.md")
	for _, w := range []string{"[bench/results/report.md](bench/results/report.md)", "commit `abc`", "| g | t | f | met |"} {
		if !strings.Contains(s, w) {
			t.Errorf("summary lacks %q:\n%s", w, s)
		}
	}
}

func TestLoad1(t *testing.T) {
	for in, want := range map[string]float64{"3.50 2.00 1.00": 3.5, "unknown": 0, "": 0} {
		if got := (Machine{LoadAvg: in}).Load1(); got != want {
			t.Errorf("Load1(%q) = %v, want %v", in, got, want)
		}
	}
}
