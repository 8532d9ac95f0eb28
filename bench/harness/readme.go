package harness

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// The README's section between these markers is the latest report's
// summary; UpdateReadme rewrites it.
const (
	ReadmeStart = "<!-- bench-summary:start -->"
	ReadmeEnd   = "<!-- bench-summary:end -->"
)

// ErrNoMarkers: the README lacks the bench-summary markers.
var ErrNoMarkers = errors.New("catga: bench: README has no " + ReadmeStart + " … " + ReadmeEnd + " section")

// ReadmeSummary is what goes between the markers: a link to the report
// (at reportPath, relative to the README), where and when it was measured,
// and its summary table.
func ReadmeSummary(rep *Report, reportPath string) string {
	m := rep.Machine
	return fmt.Sprintf("Latest report: [%s](%s), measured %s on %s (%d cores), %s, commit `%s`, load average at start %s.\n\n%s",
		reportPath, reportPath, rep.Started.UTC().Format(time.DateOnly), esc(m.CPU), m.Cores, m.Go, m.Commit, m.LoadAvg,
		MarkdownTable(rep.SummaryTable()))
}

// ReplaceSection returns doc with the text between the markers replaced
// by body.
func ReplaceSection(doc, body string) (string, error) {
	i := strings.Index(doc, ReadmeStart)
	j := strings.Index(doc, ReadmeEnd)
	if i < 0 || j < i {
		return "", ErrNoMarkers
	}
	return doc[:i+len(ReadmeStart)] + "\n" + strings.TrimRight(body, "\n") + "\n" + doc[j:], nil
}

// UpdateReadme puts rep's summary (linking bench/results/report.md) into
// the README at path.
func UpdateReadme(path string, rep *Report) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc, err := ReplaceSection(string(b), ReadmeSummary(rep, "bench/results/report.md"))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
