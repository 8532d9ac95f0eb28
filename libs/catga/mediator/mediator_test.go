package mediator_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/mediator"
)

type placeOrder struct {
	Customer string
	Amount   int64
}

func (p placeOrder) Validate() error {
	if p.Amount <= 0 {
		return fmt.Errorf("amount must be positive, got %d", p.Amount)
	}
	return nil
}

type orderPlaced struct{ ID string }

type getOrder struct{ ID string }

func TestSendRoutesToTheRegisteredHandler(t *testing.T) {
	m := mediator.New()
	must(t, mediator.Handle(m, func(_ context.Context, c placeOrder) (string, error) {
		return c.Customer + "-order", nil
	}))
	must(t, mediator.Handle(m, func(_ context.Context, q getOrder) (int, error) { return len(q.ID), nil }))

	got, err := mediator.Send[string](context.Background(), m, placeOrder{Customer: "ada", Amount: 1})
	must(t, err)
	if got != "ada-order" {
		t.Fatalf("Send = %q, want ada-order", got)
	}
	n, err := mediator.Send[int](context.Background(), m, getOrder{ID: "abc"})
	must(t, err)
	if n != 3 {
		t.Fatalf("Send = %d, want 3", n)
	}
}

func TestRegistrationAndDispatchErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(m *mediator.Mediator) error
		want error
		says string
	}{
		{
			name: "no handler",
			run: func(m *mediator.Mediator) error {
				_, err := mediator.Send[string](ctx, m, getOrder{})
				return err
			},
			want: mediator.ErrNoHandler, says: "mediator_test.getOrder",
		},
		{
			name: "duplicate handler",
			run: func(m *mediator.Mediator) error {
				h := func(context.Context, getOrder) (string, error) { return "", nil }
				must(t, mediator.Handle(m, h))
				return mediator.Handle(m, h)
			},
			want: mediator.ErrDuplicateHandler, says: "mediator_test.getOrder",
		},
		{
			name: "nil request handler",
			run: func(m *mediator.Mediator) error {
				return mediator.Handle[getOrder, string](m, nil)
			},
			want: mediator.ErrNilHandler,
		},
		{
			name: "nil event handler",
			run: func(m *mediator.Mediator) error {
				return mediator.Subscribe[orderPlaced](m, nil)
			},
			want: mediator.ErrNilHandler,
		},
		{
			name: "wrong response type",
			run: func(m *mediator.Mediator) error {
				must(t, mediator.Handle(m, func(context.Context, getOrder) (string, error) { return "", nil }))
				_, err := mediator.Send[int](ctx, m, getOrder{})
				return err
			},
			want: mediator.ErrResponseType, says: "int",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(mediator.New())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err = %q, want it to name %q", err, tt.says)
			}
		})
	}
}

func TestFailedRegistrationLeavesTheFirstHandler(t *testing.T) {
	m := mediator.New()
	must(t, mediator.Handle(m, func(context.Context, getOrder) (string, error) { return "first", nil }))
	if err := mediator.Handle(m, func(context.Context, getOrder) (string, error) { return "second", nil }); err == nil {
		t.Fatal("second registration succeeded")
	}
	got, err := mediator.Send[string](context.Background(), m, getOrder{})
	must(t, err)
	if got != "first" {
		t.Fatalf("Send = %q, want first", got)
	}
}

func TestPublishRunsEveryHandlerAndJoinsErrors(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprintf("concurrent=%v", concurrent), func(t *testing.T) {
			var opts []mediator.Option
			if concurrent {
				opts = append(opts, mediator.WithConcurrentPublish())
			}
			m := mediator.New(opts...)
			var ran atomic.Int32
			errA, errB := errors.New("handler a failed"), errors.New("handler c failed")
			must(t, mediator.Subscribe(m, func(context.Context, orderPlaced) error { ran.Add(1); return errA }))
			must(t, mediator.Subscribe(m, func(context.Context, orderPlaced) error { ran.Add(1); return nil }))
			must(t, mediator.Subscribe(m, func(context.Context, orderPlaced) error { ran.Add(1); return errB }))

			err := mediator.Publish(context.Background(), m, orderPlaced{ID: "o1"})
			if got := ran.Load(); got != 3 {
				t.Fatalf("%d handlers ran, want 3", got)
			}
			if !errors.Is(err, errA) || !errors.Is(err, errB) {
				t.Fatalf("err = %v, want both handler errors joined", err)
			}
		})
	}
}

func TestPublishWithoutSubscribersIsNotAnError(t *testing.T) {
	if err := mediator.Publish(context.Background(), mediator.New(), orderPlaced{}); err != nil {
		t.Fatalf("Publish = %v, want nil", err)
	}
}

func TestPublishDeliversThePayloadToEachHandler(t *testing.T) {
	m := mediator.New(mediator.WithMiddleware(passThrough(), passThrough()))
	var got []string
	for i := range 2 {
		must(t, mediator.Subscribe(m, func(_ context.Context, e orderPlaced) error {
			got = append(got, fmt.Sprintf("%d:%s", i, e.ID))
			return nil
		}))
	}
	must(t, mediator.Publish(context.Background(), m, orderPlaced{ID: "o1"}))
	must(t, mediator.Publish(context.Background(), m, orderPlaced{ID: "o2"}))
	if want := "0:o1 1:o1 0:o2 1:o2"; strings.Join(got, " ") != want {
		t.Fatalf("deliveries = %v, want %s", got, want)
	}
}

func TestMiddlewareOrderAndComposition(t *testing.T) {
	var trace []string
	tag := func(name string) mediator.Middleware {
		return func(next mediator.Handler) mediator.Handler {
			trace = append(trace, "compose "+name)
			return func(ctx context.Context, msg mediator.Message) error {
				trace = append(trace, name+" "+msg.Kind().String()+" "+msg.Type())
				return next(ctx, msg)
			}
		}
	}
	m := mediator.New(mediator.WithMiddleware(tag("outer"), tag("inner")))
	must(t, mediator.Handle(m, func(context.Context, getOrder) (string, error) {
		trace = append(trace, "handler")
		return "", nil
	}))
	for range 2 {
		_, err := mediator.Send[string](context.Background(), m, getOrder{})
		must(t, err)
	}
	want := []string{
		"compose inner", "compose outer", // composed once, at registration
		"outer request mediator_test.getOrder", "inner request mediator_test.getOrder", "handler",
		"outer request mediator_test.getOrder", "inner request mediator_test.getOrder", "handler",
	}
	if strings.Join(trace, "|") != strings.Join(want, "|") {
		t.Fatalf("trace:\n got %q\nwant %q", trace, want)
	}
}

func TestMiddlewareThatReplacesTheMessageGetsAnError(t *testing.T) {
	type wrapped struct{ mediator.Message }
	m := mediator.New(mediator.WithMiddleware(func(next mediator.Handler) mediator.Handler {
		return func(ctx context.Context, msg mediator.Message) error { return next(ctx, wrapped{msg}) }
	}))
	must(t, mediator.Handle(m, func(context.Context, getOrder) (string, error) { return "", nil }))
	_, err := mediator.Send[string](context.Background(), m, getOrder{})
	if !errors.Is(err, mediator.ErrForeignMessage) {
		t.Fatalf("err = %v, want ErrForeignMessage", err)
	}
}

func TestRecoverTurnsPanicsIntoErrors(t *testing.T) {
	m := mediator.New(mediator.WithMiddleware(mediator.Recover()))
	cause := errors.New("boom")
	must(t, mediator.Handle(m, func(context.Context, getOrder) (string, error) { panic(cause) }))
	var ranAfterPanic atomic.Bool
	must(t, mediator.Subscribe(m, func(context.Context, orderPlaced) error { panic("event boom") }))
	must(t, mediator.Subscribe(m, func(context.Context, orderPlaced) error { ranAfterPanic.Store(true); return nil }))

	_, err := mediator.Send[string](context.Background(), m, getOrder{})
	var pe *mediator.PanicError
	if !errors.As(err, &pe) || !errors.Is(err, mediator.ErrPanic) || !errors.Is(err, cause) {
		t.Fatalf("err = %v, want a PanicError wrapping the cause", err)
	}
	if !strings.Contains(string(pe.Stack), "mediator_test.TestRecoverTurnsPanicsIntoErrors") {
		t.Fatalf("stack does not show the panicking handler:\n%s", pe.Stack)
	}

	err = mediator.Publish(context.Background(), m, orderPlaced{})
	if !errors.Is(err, mediator.ErrPanic) || !ranAfterPanic.Load() {
		t.Fatalf("err = %v, second handler ran = %v; want panic error and the other handler run", err, ranAfterPanic.Load())
	}
}

func TestConcurrentPublishPanicReachesThePublisher(t *testing.T) {
	m := mediator.New(mediator.WithConcurrentPublish())
	must(t, mediator.Subscribe(m, func(context.Context, orderPlaced) error { return nil }))
	must(t, mediator.Subscribe(m, func(context.Context, orderPlaced) error { panic("from a goroutine") }))
	defer func() {
		if r := recover(); r != "from a goroutine" {
			t.Fatalf("recovered %v, want the handler's panic", r)
		}
	}()
	_ = mediator.Publish(context.Background(), m, orderPlaced{})
	t.Fatal("Publish returned; want the panic re-raised")
}

func TestValidateRejectsBeforeTheHandler(t *testing.T) {
	m := mediator.New(mediator.WithMiddleware(mediator.Validate()))
	var handled atomic.Int32
	must(t, mediator.Handle(m, func(context.Context, placeOrder) (string, error) { handled.Add(1); return "ok", nil }))
	must(t, mediator.Handle(m, func(context.Context, getOrder) (string, error) { handled.Add(1); return "ok", nil }))

	tests := []struct {
		name    string
		send    func() error
		wantErr bool
	}{
		{"valid", func() error {
			_, err := mediator.Send[string](context.Background(), m, placeOrder{Amount: 5})
			return err
		}, false},
		{"invalid", func() error {
			_, err := mediator.Send[string](context.Background(), m, placeOrder{Amount: -5})
			return err
		}, true},
		{"no validate method", func() error { _, err := mediator.Send[string](context.Background(), m, getOrder{}); return err }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := handled.Load()
			err := tt.send()
			if !tt.wantErr {
				must(t, err)
				if handled.Load() != before+1 {
					t.Fatal("handler did not run")
				}
				return
			}
			var ve *mediator.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, mediator.ErrInvalid) || !strings.Contains(err.Error(), "amount must be positive, got -5") {
				t.Fatalf("err = %v, want a ValidationError naming the problem", err)
			}
			if handled.Load() != before {
				t.Fatal("handler ran for an invalid request")
			}
		})
	}
}

type pointerValidated struct{ ok bool }

func (p *pointerValidated) Validate() error {
	if !p.ok {
		return errors.New("not ok")
	}
	return nil
}

func TestValidateSeesPointerReceiverMethods(t *testing.T) {
	m := mediator.New(mediator.WithMiddleware(mediator.Validate()))
	must(t, mediator.Handle(m, func(context.Context, pointerValidated) (struct{}, error) { return struct{}{}, nil }))
	if _, err := mediator.Send[struct{}](context.Background(), m, pointerValidated{}); !errors.Is(err, mediator.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func TestTimeoutBoundsTheCall(t *testing.T) {
	m := mediator.New(mediator.WithMiddleware(mediator.Timeout(20 * time.Millisecond)))
	must(t, mediator.Handle(m, func(ctx context.Context, _ getOrder) (string, error) {
		<-ctx.Done() // a handler that would wait forever without the middleware
		return "", ctx.Err()
	}))
	_, err := mediator.Send[string](context.Background(), m, getOrder{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish within 20ms") {
		t.Fatalf("err = %v, want a deadline error naming the timeout", err)
	}
}

func TestLoggingRecordsFailures(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := mediator.New(mediator.WithMiddleware(mediator.Logging(logger)))
	must(t, mediator.Handle(m, func(context.Context, getOrder) (string, error) { return "", errors.New("store down") }))
	must(t, mediator.Handle(m, func(context.Context, placeOrder) (string, error) { return "", nil }))
	_, _ = mediator.Send[string](context.Background(), m, getOrder{})
	_, _ = mediator.Send[string](context.Background(), m, placeOrder{})
	out := buf.String()
	for _, want := range []string{"level=ERROR", "type=mediator_test.getOrder", `error="store down"`, "level=DEBUG", "type=mediator_test.placeOrder"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestConcurrentUseIsRaceFree(t *testing.T) {
	m := mediator.New(mediator.WithMiddleware(mediator.Recover(), passThrough()), mediator.WithConcurrentPublish())
	must(t, mediator.Handle(m, func(_ context.Context, c placeOrder) (int64, error) { return c.Amount * 2, nil }))
	var events atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				got, err := mediator.Send[int64](context.Background(), m, placeOrder{Amount: int64(g*1000 + i)})
				if err != nil || got != int64(g*1000+i)*2 {
					t.Errorf("Send = %d, %v", got, err)
					return
				}
				if err := mediator.Publish(context.Background(), m, orderPlaced{ID: "x"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Registration while calls are in flight must not race with them.
	for range 4 {
		must(t, mediator.Subscribe(m, func(context.Context, orderPlaced) error { events.Add(1); return nil }))
	}
	wg.Wait()
	if events.Load() == 0 {
		t.Fatal("no event reached a handler registered during the run")
	}
}

func TestHasHandler(t *testing.T) {
	m := mediator.New()
	if mediator.HasHandler[getOrder](m) {
		t.Fatal("HasHandler before registration")
	}
	must(t, mediator.Handle(m, func(context.Context, getOrder) (string, error) { return "", nil }))
	if !mediator.HasHandler[getOrder](m) {
		t.Fatal("HasHandler after registration = false")
	}
}

func passThrough() mediator.Middleware {
	return func(next mediator.Handler) mediator.Handler {
		return func(ctx context.Context, msg mediator.Message) error { return next(ctx, msg) }
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
