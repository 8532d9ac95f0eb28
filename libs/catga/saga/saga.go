package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/backoff"
)

// Sentinel errors.
var (
	// ErrLostOwnership: another peer claimed the saga (or an operator
	// forced it); this peer stopped executing it.
	ErrLostOwnership = errors.New("catga: saga ownership lost")
	// ErrDeadline: the saga deadline passed before its steps completed.
	ErrDeadline = errors.New("catga: saga deadline exceeded")
	// ErrUnknownSaga: no definition registered under the record's name.
	ErrUnknownSaga = errors.New("catga: unknown saga definition")
	// ErrInvalidState: the operator action does not apply to the saga's
	// current state.
	ErrInvalidState = errors.New("catga: invalid saga state for this operation")
	// ErrClosed: the engine is closed.
	ErrClosed = errors.New("catga: saga engine closed")
	// ErrInvalidDefinition: a definition failed validation.
	ErrInvalidDefinition = errors.New("catga: invalid saga definition")
)

// RetryPolicy says how a step call is retried. Errors that catga.IsRetryable
// rejects (domain rejections, permanent errors) and those NonRetryable
// matches are never retried.
type RetryPolicy struct {
	MaxAttempts    int           // total attempts; default 3 (actions), 10 (compensations)
	InitialBackoff time.Duration // default 20ms
	MaxBackoff     time.Duration // default 1s
	Jitter         float64       // fraction of the backoff randomised, default 0.2
	NonRetryable   func(error) bool
}

func (p RetryPolicy) withDefaults(attempts int) RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = attempts
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 20 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = time.Second
	}
	if p.Jitter <= 0 {
		p.Jitter = 0.2
	}
	return p
}

func (p RetryPolicy) retryable(err error) bool {
	return catga.IsRetryable(err) && (p.NonRetryable == nil || !p.NonRetryable(err))
}

// backoff returns the wait before attempt n+1 (n >= 1).
func (p RetryPolicy) backoff(n int) time.Duration {
	return backoff.Policy{Initial: p.InitialBackoff, Max: p.MaxBackoff, Jitter: p.Jitter}.Delay(n)
}

// Step is one step of a saga over data D. Action and Compensate read and
// update the saga data; the engine persists it after each successful call.
// An action may also record a result of its own with [SetResult], which
// later steps, compensations and operators read ([StepResult], [ResultOf]).
// Their ctx carries catga.Metadata for the participant (see the package
// documentation), typically passed on by mediator.Send.
type Step[D any] struct {
	Name   string
	Action func(ctx context.Context, data *D) error
	// Compensate (optional) runs for the failed step and those before it,
	// including for an action that never applied (rejected, timed out, or
	// never delivered): the participant must then undo nothing. Guarded by
	// [GuardCompensation] or a fence it does so, and refuses the action
	// for good afterwards; an unguarded compensation must check itself.
	Compensate func(ctx context.Context, data *D) error
	// Timeout bounds each attempt (default: the engine's WithStepTimeout).
	Timeout           time.Duration
	Retry             RetryPolicy
	CompensationRetry RetryPolicy
}

// Definition describes a saga type. Name identifies it in the store, so
// every peer that may resume it registers a definition under that name.
type Definition[D any] struct {
	Name     string
	Steps    []Step[D]
	Deadline time.Duration // 0: no deadline
}

// Validate reports every problem with the definition.
func (d Definition[D]) Validate() error {
	var errs []error
	if d.Name == "" {
		errs = append(errs, fmt.Errorf("%w: empty name", ErrInvalidDefinition))
	}
	if len(d.Steps) == 0 {
		errs = append(errs, fmt.Errorf("%w: %s has no steps", ErrInvalidDefinition, d.Name))
	}
	for i, s := range d.Steps {
		if s.Action == nil {
			errs = append(errs, fmt.Errorf("%w: %s step %d (%s) has no action", ErrInvalidDefinition, d.Name, i, s.Name))
		}
	}
	return errors.Join(errs...)
}

// runner is a Definition with its data type erased, as the engine drives it.
type runner interface {
	name() string
	stepCount() int
	stepName(i int) string
	hasCompensation(i int) bool
	policy(i int, compensation bool) (RetryPolicy, time.Duration)
	deadline() time.Duration
	decode(raw []byte) (any, error)
	encode(data any) ([]byte, error)
	call(ctx context.Context, i int, compensation bool, data any) error
}

type typed[D any] struct{ def Definition[D] }

func (t *typed[D]) name() string               { return t.def.Name }
func (t *typed[D]) stepCount() int             { return len(t.def.Steps) }
func (t *typed[D]) stepName(i int) string      { return t.def.Steps[i].Name }
func (t *typed[D]) hasCompensation(i int) bool { return t.def.Steps[i].Compensate != nil }
func (t *typed[D]) deadline() time.Duration    { return t.def.Deadline }

func (t *typed[D]) policy(i int, compensation bool) (RetryPolicy, time.Duration) {
	s := t.def.Steps[i]
	if compensation {
		return s.CompensationRetry.withDefaults(10), s.Timeout
	}
	return s.Retry.withDefaults(3), s.Timeout
}

func (t *typed[D]) decode(raw []byte) (any, error) {
	d := new(D)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, d); err != nil {
			return nil, fmt.Errorf("catga: saga %s: data: %w", t.def.Name, err)
		}
	}
	return d, nil
}

func (t *typed[D]) encode(data any) ([]byte, error) { return json.Marshal(data) }

func (t *typed[D]) call(ctx context.Context, i int, compensation bool, data any) error {
	d := data.(*D)
	if compensation {
		return t.def.Steps[i].Compensate(ctx, d)
	}
	return t.def.Steps[i].Action(ctx, d)
}
