package saga

import (
	"slices"
	"strings"
)

// Shape describes a registered saga definition to operators: its name and
// its steps in order, so that a record's Steps[i] can be named.
type Shape struct {
	Name  string
	Steps []StepShape
}

// StepShape is one step of a [Shape].
type StepShape struct {
	Name string
	// Compensable: the step has a compensation.
	Compensable bool
}

// Shapes returns the definitions registered with e, sorted by name.
func (e *Engine) Shapes() []Shape {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Shape, 0, len(e.defs))
	for _, rn := range e.defs {
		s := Shape{Name: rn.name(), Steps: make([]StepShape, rn.stepCount())}
		for i := range s.Steps {
			s.Steps[i] = StepShape{Name: rn.stepName(i), Compensable: rn.hasCompensation(i)}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Shape) int { return strings.Compare(a.Name, b.Name) })
	return out
}
