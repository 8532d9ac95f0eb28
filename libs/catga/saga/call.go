package saga

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/backoff"
)

// ActionKey is the idempotency key of step i's action when first started in
// epoch keyEpoch. The compensation's key is [UndoKey] of it.
func ActionKey(sagaID string, step int, keyEpoch uint64) string {
	return sagaID + "/" + strconv.Itoa(step) + "/" + strconv.FormatUint(keyEpoch, 10)
}

// UndoSuffix ends a compensation's idempotency key. After an operator's
// Retry the key is UndoKey's: the suffix followed by ".<round>".
const UndoSuffix = "/undo"

// UndoKey is the idempotency key of a compensation of the action keyed
// actionKey, in the given operator retry round (0 before any Retry).
func UndoKey(actionKey string, round int) string {
	if round == 0 {
		return actionKey + UndoSuffix
	}
	return actionKey + UndoSuffix + "." + strconv.Itoa(round)
}

// outcome is the result of a step call under its retry policy.
type outcome struct {
	attempts int
	data     []byte // the saga data after the successful attempt
	result   []byte // what the successful action attempt recorded (SetResult)
	err      error
}

// call runs step i's action or compensation under its retry policy. Each
// attempt works on its own copy of the saga data, decoded from the record:
// what a failed (or abandoned) attempt changed never reaches a retry, a
// compensation or the store.
func (e *Engine) call(ctx context.Context, r *run, rn runner, i int, compensation bool) outcome {
	rec := r.current()
	id, epoch, keyEpoch, deadline, raw := rec.ID, rec.Epoch, rec.Steps[i].KeyEpoch, rec.Deadline, rec.Data
	key := ActionKey(id, i, keyEpoch)
	what := "action"
	if compensation {
		key = UndoKey(key, rec.Steps[i].UndoRound)
		what = "compensation"
	}
	policy, timeout := rn.policy(i, compensation)
	if timeout <= 0 {
		timeout = e.stepTimeout
	}
	if compensation {
		deadline = time.Time{} // compensations run past the deadline: they are how a late saga ends
	}
	md := catga.Metadata{
		MessageID: key + "@" + strconv.FormatUint(epoch, 10), CorrelationID: id,
		IdempotencyKey: key, Epoch: epoch,
	}
	ctx, span := e.tracer.Start(ctx, "saga "+rn.name()+" "+rn.stepName(i)+" "+what, trace.WithAttributes(
		attribute.String("catga.saga.id", id), attribute.Int("catga.saga.step", i),
		attribute.Int64("catga.saga.epoch", int64(epoch)), attribute.Bool("catga.saga.compensation", compensation)))
	defer span.End()
	ctx = catga.WithMetadata(ctx, md)
	fail := func(attempts int, err error) outcome {
		span.SetStatus(codes.Error, err.Error())
		return outcome{attempts: attempts, err: err}
	}
	recorded := make([][]byte, len(rec.Steps))
	for j, st := range rec.Steps {
		recorded[j] = st.Result
	}
	for attempt := 1; ; attempt++ {
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return fail(attempt-1, catga.Permanent(fmt.Errorf("%w (step %d)", ErrDeadline, i)))
		}
		data, err := rn.decode(raw)
		if err != nil {
			return fail(attempt-1, catga.Permanent(err))
		}
		res := &stepResults{recorded: recorded, compensation: compensation}
		err = e.attempt(context.WithValue(ctx, resultsKey{}, res), rn, i, compensation, data, timeout, deadline)
		if err == nil {
			out, err := rn.encode(data)
			if err != nil {
				return fail(attempt, catga.Permanent(fmt.Errorf("catga: saga %s: data: %w", id, err)))
			}
			return outcome{attempts: attempt, data: out, result: res.take()}
		}
		if ctx.Err() != nil {
			return outcome{attempts: attempt, err: ctx.Err()}
		}
		if !policy.retryable(err) || attempt >= policy.MaxAttempts {
			return fail(attempt, fmt.Errorf("catga: saga %s step %d %s (attempt %d): %w", id, i, what, attempt, err))
		}
		if !backoff.Sleep(ctx, policy.backoff(attempt)) {
			return outcome{attempts: attempt, err: ctx.Err()}
		}
	}
}

// attempt makes one step call bounded by timeout and the saga deadline. It
// stops waiting when that bound (or ctx) ends even if the step ignores its
// context: the step's goroutine is abandoned to finish on its own, with its
// private copy of the data. A panic in the step becomes a permanent error.
func (e *Engine) attempt(ctx context.Context, rn runner, i int, compensation bool, data any, timeout time.Duration, deadline time.Time) error {
	end := time.Now().Add(timeout)
	if !deadline.IsZero() && deadline.Before(end) {
		end = deadline
	}
	actx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- catga.Permanent(fmt.Errorf("catga: saga step %d panicked: %v", i, p))
			}
		}()
		done <- rn.call(actx, i, compensation, data)
	}()
	select {
	case err := <-done:
		return err
	case <-actx.Done():
		select {
		case err := <-done: // returned as its context ended
			return err
		default:
		}
		return fmt.Errorf("catga: saga step %d did not return when its context ended: %w", i, actx.Err())
	}
}
