package transport_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/memory"
)

// TestBadOptionValues: an option given a value it cannot use makes the
// function fail with ErrConfig, naming the option, instead of clamping the
// value or ignoring it.
func TestBadOptionValues(t *testing.T) {
	bus := memory.NewBus()
	tr := memory.New(bus)
	t.Cleanup(func() { _ = tr.Close() })
	m := mediator.New()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	topic := transport.NewTopic[PaymentCharged]("payment.charged")
	serve := func(o transport.ServeOption) error { _, err := transport.Serve(tr, m, chargeRoute, o); return err }
	send := func(o transport.SendOption) error {
		_, err := transport.Request(ctx, tr, chargeRoute, ChargePayment{}, o)
		return err
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"retry with no attempt", send(transport.WithRetry(0, time.Millisecond)), "WithRetry"},
		{"retry without a base", send(transport.WithRetry(3, 0)), "WithRetry"},
		{"zero attempt timeout", transport.Register(m, tr, chargeRoute, transport.WithAttemptTimeout(0)), "WithAttemptTimeout"},
		{"zero concurrency", serve(transport.WithConcurrency(0)), "WithConcurrency"},
		{"negative lease", serve(transport.WithLease(-time.Second)), "WithLease"},
		{"zero reply TTL", serve(transport.WithReplyTTL(0)), "WithReplyTTL"},
		{"nil store", serve(transport.WithIdempotency(nil)), "WithIdempotency"},
		{"nil codec", serve(transport.WithCodec(nil)), "WithCodec"},
		{"nil logger", serve(transport.WithLogger(nil)), "WithLogger"},
		{"nil tracer", send(transport.WithTracer(nil)), "WithTracer"},
		{"zero max size on publish", transport.PublishEvent(ctx, tr, topic, PaymentCharged{}, transport.WithMaxSize(0)), "WithMaxSize"},
		{"negative consumer config", func() error {
			_, err := transport.ConsumeEvents(tr, m, "billing", topic, transport.WithConsumer(transport.ConsumerConfig{MaxDeliver: -1}))
			return err
		}(), "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, transport.ErrConfig) || !strings.Contains(tc.err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig naming %s", tc.err, tc.want)
			}
			if catga.IsRetryable(tc.err) {
				t.Errorf("a bad option is retryable: %v", tc.err)
			}
		})
	}
}

// TestOptionKinds: an option belongs to the call sites where it applies.
// The compiler refuses the others; this checks the types say so (with one
// Option type for all, WithRetry would have been accepted by Serve and
// silently ignored).
func TestOptionKinds(t *testing.T) {
	tests := []struct {
		name                                     string
		opt                                      any
		send, serve, publish, consume, subscribe bool
	}{
		{"WithCodec", transport.WithCodec(transport.JSON{}), true, true, true, true, true},
		{"WithMaxSize", transport.WithMaxSize(1), true, true, true, true, true},
		{"WithLogger", transport.WithLogger(nil), false, true, false, true, true},
		{"WithRetry", transport.WithRetry(1, time.Millisecond), true, false, false, false, false},
		{"WithAttemptTimeout", transport.WithAttemptTimeout(time.Second), true, false, false, false, false},
		{"WithLease", transport.WithLease(time.Second), false, true, false, false, false},
		{"WithConcurrency", transport.WithConcurrency(1), false, true, false, false, false},
		{"WithoutIdempotency", transport.WithoutIdempotency(), false, true, false, false, false},
		{"WithConsumer", transport.WithConsumer(transport.ConsumerConfig{}), false, false, false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, send := tc.opt.(transport.SendOption)
			_, serve := tc.opt.(transport.ServeOption)
			_, publish := tc.opt.(transport.PublishOption)
			_, consume := tc.opt.(transport.ConsumeOption)
			_, subscribe := tc.opt.(transport.SubscribeOption)
			if send != tc.send || serve != tc.serve || publish != tc.publish || consume != tc.consume || subscribe != tc.subscribe {
				t.Errorf("applies to send=%v serve=%v publish=%v consume=%v subscribe=%v; want %v %v %v %v %v",
					send, serve, publish, consume, subscribe, tc.send, tc.serve, tc.publish, tc.consume, tc.subscribe)
			}
		})
	}
}
