package transport

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
)

func TestConsumerConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ConsumerConfig
		wantErr bool
	}{
		{"ok", ConsumerConfig{Name: "billing_Refunded", Subject: "catga.evt.x"}, false},
		{"dot in name", ConsumerConfig{Name: "billing.Refunded", Subject: "catga.evt.x"}, true},
		{"empty name", ConsumerConfig{Subject: "catga.evt.x"}, true},
		{"no subject", ConsumerConfig{Name: "a"}, true},
		{"negative MaxDeliver", ConsumerConfig{Name: "a", Subject: "s", MaxDeliver: -1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not match ErrConfig", err)
			}
		})
	}
	d := ConsumerConfig{Name: "a", Subject: "s"}.WithDefaults()
	if d.AckWait <= 0 || d.MaxDeliver <= 0 || d.RetryDelay <= 0 {
		t.Errorf("WithDefaults left zero fields: %+v", d)
	}
}

// TestDecideOutlastsOutage: with the default schedule a retryable failure
// is redelivered for well over 10 seconds (a Redis or PostgreSQL failover)
// before anything is dead-lettered.
func TestDecideOutlastsOutage(t *testing.T) {
	c := ConsumerConfig{Name: "a", Subject: "s"}.WithDefaults()
	down := errors.New("db down")
	var waited time.Duration
	attempt := 1
	for ; ; attempt++ {
		v := c.Decide(down, attempt)
		if !v.Retry {
			if v.DeadReason == "" {
				t.Fatalf("attempt %d: %+v, want retry or dead letter", attempt, v)
			}
			break
		}
		waited += v.Delay
	}
	if waited < 30*time.Second {
		t.Errorf("dead-lettered after %d deliveries and %s of retries; want more than 30s", attempt, waited)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"ok", nil, "ack"},
		{"permanent", catga.Permanent(down), "dead"},
		{"rejection", catga.Reject("x", "no"), "dead"},
		{"panic", catga.Permanent(&mediator.PanicError{Value: "boom", Stack: []byte("goroutine 1")}), "dead"},
		{"retryable", down, "retry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := c.Decide(tc.err, 1)
			got := map[bool]string{true: "ack"}[v.Ack] + map[bool]string{true: "retry"}[v.Retry]
			if got == "" {
				got = "dead"
			}
			if got != tc.want {
				t.Errorf("Decide(%v) = %+v, want %s", tc.err, v, tc.want)
			}
			if strings.Contains(v.DeadReason, "goroutine") {
				t.Errorf("dead reason carries a stack: %q", v.DeadReason)
			}
		})
	}
}

// retryAfterError suggests its own redelivery delay, as inbox.RetryError does.
type retryAfterError struct{ d time.Duration }

func (e retryAfterError) Error() string             { return "busy" }
func (e retryAfterError) RetryAfter() time.Duration { return e.d }

// TestDecideHonoursRetryAfter: a handler that knows how long its dependency
// needs (the inbox's growing delay over a database outage) sets the wait,
// capped by MaxRetryDelay; the schedule applies otherwise.
func TestDecideHonoursRetryAfter(t *testing.T) {
	c := ConsumerConfig{Name: "a", Subject: "s", RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Second}.WithDefaults()
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"suggested", retryAfterError{3 * time.Second}, 3 * time.Second},
		{"wrapped", fmt.Errorf("effect: %w", retryAfterError{2 * time.Second}), 2 * time.Second},
		{"capped", retryAfterError{time.Hour}, 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := c.Decide(tc.err, 1)
			if !v.Retry || v.Delay != tc.want {
				t.Fatalf("Decide(%v, 1) = %+v, want retry after %s", tc.err, v, tc.want)
			}
		})
	}
	if v := c.Decide(errors.New("plain"), 1); !v.Retry || v.Delay > 2*time.Millisecond {
		t.Fatalf("a plain retryable error: %+v, want the schedule's first delay (~1ms)", v)
	}
}
