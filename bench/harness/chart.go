package harness

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one line of a line chart.
type Series struct {
	Name   string
	X, Y   []float64
	Dashed bool // e.g. a baseline or a goal
}

// LineSpec is a line chart.
type LineSpec struct {
	Title, XLabel, YLabel string
	LogY                  bool
	Series                []Series
}

// LineChart draws spec into path; the format follows its extension (.svg).
func LineChart(path string, spec LineSpec) error {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = spec.Title, spec.XLabel, spec.YLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	if spec.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	for i, s := range spec.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("catga: bench: chart %q: series %q has %d x and %d y values", spec.Title, s.Name, len(s.X), len(s.Y))
		}
		pts := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			if spec.LogY && s.Y[j] <= 0 {
				continue // no place on a log scale
			}
			pts = append(pts, plotter.XY{X: s.X[j], Y: s.Y[j]})
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("catga: bench: chart %q: %w", spec.Title, err)
		}
		c := plotutil.Color(i)
		line.Color, points.Color = c, c
		points.Shape = plotutil.Shape(i)
		if s.Dashed {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			line.Color = color.Gray{Y: 100}
			points.Color = line.Color
		}
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
	}
	return save(p, path)
}

// Bar is one group of a bar chart: a label and one value per series.
type Bar struct {
	Label  string
	Values []float64
}

// BarSpec is a grouped bar chart: Series names the values of each Bar.
type BarSpec struct {
	Title, YLabel string
	Series        []string
	Bars          []Bar
}

// BarChart draws spec into path.
func BarChart(path string, spec BarSpec) error {
	p := plot.New()
	p.Title.Text, p.Y.Label.Text = spec.Title, spec.YLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	n := len(spec.Series)
	w := vg.Points(float64(60 / max(n, 1)))
	for i, name := range spec.Series {
		vals := make(plotter.Values, len(spec.Bars))
		for j, b := range spec.Bars {
			if len(b.Values) != n {
				return fmt.Errorf("catga: bench: chart %q: bar %q has %d values for %d series", spec.Title, b.Label, len(b.Values), n)
			}
			vals[j] = b.Values[i]
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("catga: bench: chart %q: %w", spec.Title, err)
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(bars)
		p.Legend.Add(name, bars)
	}
	labels := make([]string, len(spec.Bars))
	for i, b := range spec.Bars {
		labels[i] = b.Label
	}
	p.NominalX(labels...)
	return save(p, path)
}

func save(p *plot.Plot, path string) error {
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".svg" {
		return fmt.Errorf("catga: bench: chart %s: want an .svg file", path)
	}
	if err := p.Save(8*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("catga: bench: chart %s: %w", path, err)
	}
	return nil
}
