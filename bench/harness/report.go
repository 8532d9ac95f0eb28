package harness

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is the benchmark report: a header describing the run, one
// section per scenario, and the goals it is measured against.
type Report struct {
	Title    string
	Machine  Machine
	Started  time.Time
	Took     time.Duration
	LoadEnd  string // load averages when the run ended
	Notes    []string
	Goals    []Goal
	Sections []Section
}

// Section is one scenario's results.
type Section struct {
	Title  string
	Text   string // Markdown paragraph(s) before the tables
	Tables []Table
	Charts []Chart // image paths relative to the report, with their captions
}

// Chart is a chart file shown in a section.
type Chart struct{ Path, Caption string }

// Table is a Markdown table.
type Table struct {
	Header []string
	Rows   [][]string
}

// Status of a goal.
type Status int

// A goal is met, missed, or was not measured in this run (with why).
const (
	NotMeasured Status = iota
	Met
	Missed
)

func (s Status) String() string {
	switch s {
	case Met:
		return "met"
	case Missed:
		return "**missed**"
	default:
		return "not measured"
	}
}

// Goal is a target and what the run measured against it.
type Goal struct {
	Name   string // e.g. "Mediator Send"
	Target string // e.g. "≤ 25 ns and 0 allocs"
	Figure string // the measured figure, or why it was not measured
	Status Status
}

// Check returns a goal whose status is Met when ok, Missed otherwise.
func Check(name, target, figure string, ok bool) Goal {
	g := Goal{Name: name, Target: target, Figure: figure, Status: Missed}
	if ok {
		g.Status = Met
	}
	return g
}

// Unmeasured returns a goal that this run did not measure, saying why.
func Unmeasured(name, target, why string) Goal {
	return Goal{Name: name, Target: target, Figure: why, Status: NotMeasured}
}

// SummaryTable is the goals as a table: the one the README shows.
func (r *Report) SummaryTable() Table {
	t := Table{Header: []string{"goal", "target", "measured", "status"}}
	for _, g := range r.Goals {
		t.Rows = append(t.Rows, []string{g.Name, g.Target, g.Figure, g.Status.String()})
	}
	return t
}

// Markdown writes the report.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	m := r.Machine
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| machine | %s, %d cores, %.1f GiB, %s |\n", esc(m.CPU), m.Cores, m.MemoryGiB, esc(m.Kernel))
	fmt.Fprintf(&b, "| Go | %s |\n", esc(m.Go))
	fmt.Fprintf(&b, "| commit | `%s` |\n", esc(m.Commit))
	fmt.Fprintf(&b, "| started | %s, took %s |\n", r.Started.UTC().Format(time.RFC3339), r.Took.Round(time.Second))
	fmt.Fprintf(&b, "| load average (1/5/15 min) | at start %s, at end %s |\n\n", esc(m.LoadAvg), esc(r.LoadEnd))
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "%s\n\n", n)
	}
	b.WriteString("## Summary: goals\n\n")
	writeTable(&b, r.SummaryTable())
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "## %s\n\n", s.Title)
		if s.Text != "" {
			fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(s.Text))
		}
		for _, t := range s.Tables {
			writeTable(&b, t)
		}
		for _, c := range s.Charts {
			fmt.Fprintf(&b, "![%s](%s)\n\n", esc(c.Caption), c.Path)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MarkdownTable renders t alone (for the README's summary).
func MarkdownTable(t Table) string {
	var b strings.Builder
	writeTable(&b, t)
	return b.String()
}

func writeTable(b *strings.Builder, t Table) {
	row := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			fmt.Fprintf(b, " %s |", esc(c))
		}
		b.WriteString("\n")
	}
	row(t.Header)
	b.WriteString("|" + strings.Repeat("---|", len(t.Header)) + "\n")
	for _, r := range t.Rows {
		cells := make([]string, len(t.Header))
		copy(cells, r)
		row(cells)
	}
	b.WriteString("\n")
}

// esc keeps a cell on one line and out of the table's syntax.
func esc(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
