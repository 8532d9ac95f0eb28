package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// ErrNoStep: SetResult or StepResult was called outside a step call.
var ErrNoStep = errors.New("catga: not in a saga step call")

type resultsKey struct{}

// stepResults is what one attempt of a step call sees: the results recorded
// by steps so far, and the attempt's own result slot. A slot per attempt: a
// failed (or abandoned) attempt's result never reaches the record.
type stepResults struct {
	recorded     [][]byte // by step index
	compensation bool

	mu  sync.Mutex
	own []byte
}

func (s *stepResults) take() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.own
}

// SetResult records v, as JSON, as the result of the step action being
// executed (a reservation id, a payment reference), so that it need not be
// smuggled through the saga data. Once the action succeeds the result is
// kept in the saga record (StepState.Result), where later steps read it
// with [StepResult], the step's compensation too, and operators with
// [ResultOf]. The last call of the successful attempt wins; the results of
// failed attempts are discarded. Compensations record no result.
func SetResult(ctx context.Context, v any) error {
	s, _ := ctx.Value(resultsKey{}).(*stepResults)
	if s == nil || s.compensation {
		return fmt.Errorf("%w: SetResult needs a step action's context", ErrNoStep)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("catga: saga step result: %w", err)
	}
	s.mu.Lock()
	s.own = b
	s.mu.Unlock()
	return nil
}

// StepResult decodes the result that step recorded, from the context of a
// later step's call (or of any compensation); ok is false when that step
// recorded none (yet).
func StepResult[T any](ctx context.Context, step int) (v T, ok bool, err error) {
	s, _ := ctx.Value(resultsKey{}).(*stepResults)
	if s == nil {
		return v, false, fmt.Errorf("%w: StepResult needs a step call's context", ErrNoStep)
	}
	return decodeResult[T](s.recorded, step)
}

// ResultOf decodes the result step recorded in rec (from Get, List or
// Await); ok is false when it recorded none.
func ResultOf[T any](rec Record, step int) (v T, ok bool, err error) {
	results := make([][]byte, len(rec.Steps))
	for i, st := range rec.Steps {
		results[i] = st.Result
	}
	return decodeResult[T](results, step)
}

func decodeResult[T any](results [][]byte, step int) (v T, ok bool, err error) {
	if step < 0 || step >= len(results) || len(results[step]) == 0 {
		return v, false, nil
	}
	if err := json.Unmarshal(results[step], &v); err != nil {
		return v, false, fmt.Errorf("catga: saga step %d result: %w", step, err)
	}
	return v, true, nil
}
