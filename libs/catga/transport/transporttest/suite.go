package transporttest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
)

// Factory returns n peers on one shared medium (one bus, one NATS
// cluster). It registers their cleanup with t.Cleanup.
type Factory func(t *testing.T, n int) []transport.Transport

// Run runs the conformance suite: every exported case of this package. A
// transport that cannot pass one of them may run the others one by one
// instead.
//
// Cases that assert a deadline or a delay (a timeout, a lease, a
// cancellation, a stuck handler) run one after another, first; the others
// then run in parallel (bounded by go test's -parallel, GOMAXPROCS by
// default). They may share a medium: every case uses subjects, consumer
// names and message ids of its own.
func Run(t *testing.T, newPeers Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
		// timed: asserts timing, so it runs alone.
		timed bool
	}{
		{"RequestReply", RequestReply, false},
		{"NoResponders", NoResponders, false},
		{"Timeout", Timeout, true},
		{"QueueGroup", QueueGroup, false},
		{"Broadcast", Broadcast, false},
		{"DurableOncePerConsumer", DurableOnce, false},
		{"DurableBeforeConsumer", DurableBeforeConsumer, false},
		{"DurableRedelivery", DurableRedelivery, false},
		{"DurableDeadLetter", DeadLetter, false},
		{"Closed", Closed, false},
		{"TypedSend", TypedSend, false},
		{"TypedErrors", TypedErrors, false},
		{"TypedNoResponders", TypedNoResponders, false},
		{"TypedBadRequest", TypedBadRequest, false},
		{"TypedIdempotent", TypedIdempotent, false},
		{"TypedHandlerBoundedByLease", TypedHandlerBoundedByLease, true},
		{"TypedEvents", TypedEvents, false},
		{"TypedBroadcast", TypedBroadcast, false},
		{"TypedEventIDDedup", TypedEventIDDedup, false},
		{"TypedEventMalformed", TypedEventMalformed, false},
		{"TypedStepSends", StepSends, false},
		{"TypedAttemptDeadline", AttemptDeadline, true},
		{"TypedCallHeaders", CallHeaders, false},
		{"TypedConcurrentByDefault", ConcurrentByDefault, true},
		{"TypedCanceled", Canceled, true},
		{"TypedRerunSameIDs", RerunSameIDs, false},
		{"DurableDuplicateID", DuplicateID, false},
	}
	for _, tc := range tests {
		if tc.timed {
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, newPeers) })
		}
	}
	t.Run("parallel", func(t *testing.T) {
		for _, tc := range tests {
			if !tc.timed {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, newPeers)
				})
			}
		}
	})
}

// uniq makes subjects and names unique per test, so tests sharing a
// server (and its stream) do not see each other's messages.
func uniq(prefix string) string {
	return prefix + strconv.FormatUint(uint64(time.Now().UnixNano()), 36) + strconv.Itoa(int(seq.Add(1)))
}

var seq atomic.Int64

// routeAt is the route on subject (catga.cmd.<name>).
func routeAt(subject string) transport.Route[Charge, Charged] {
	return transport.NewRoute[Charge, Charged](strings.TrimPrefix(subject, transport.CommandPrefix))
}

// topicAt is the topic on subject (catga.evt.<name> or catga.bcast.<name>).
func topicAt[E any](subject string) transport.Topic[E] {
	name := strings.TrimPrefix(subject, transport.EventPrefix)
	return transport.NewTopic[E](strings.TrimPrefix(name, transport.BroadcastPrefix))
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// request retries no-responders for a bounded time: a subscription made
// on one connection reaches the others asynchronously.
func request(t *testing.T, tr transport.Transport, msg *transport.Msg) (*transport.Msg, error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := tr.Request(ctx, msg)
		cancel()
		if !errors.Is(err, transport.ErrNoResponders) || time.Now().After(deadline) {
			return r, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func echo(_ context.Context, m *transport.Msg) *transport.Msg {
	return &transport.Msg{Header: m.Header, Data: m.Data}
}

func mustServe(t *testing.T, tr transport.Transport, subject, queue string, h transport.RequestHandler) transport.Subscription {
	t.Helper()
	s, err := tr.Serve(subject, queue, h, transport.ServeConfig{Concurrency: 1})
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	return s
}

// RequestReply: a request reaches its server and the reply comes back.
func RequestReply(t *testing.T, f Factory) {
	p := f(t, 2)
	subject := uniq("ct.rr.")
	mustServe(t, p[0], subject, "svc", echo)
	h := transport.Header{"X-Mixed-Case": {"a"}, "traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	r, err := request(t, p[1], &transport.Msg{Subject: subject, Header: h, Data: []byte("hello")})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if string(r.Data) != "hello" {
		t.Errorf("reply data = %q, want hello", r.Data)
	}
	if got := r.Header.Get("X-Mixed-Case"); got != "a" {
		t.Errorf("header X-Mixed-Case = %q, want a (keys keep their case)", got)
	}
	if _, ok := r.Header["x-mixed-case"]; ok {
		t.Errorf("header key was lower-cased: %v", r.Header)
	}
	if got := r.Header.Get("traceparent"); got != h.Get("traceparent") {
		t.Errorf("traceparent = %q, want %q", got, h.Get("traceparent"))
	}
}

// NoResponders: a request nobody serves fails at once with ErrNoResponders.
func NoResponders(t *testing.T, f Factory) {
	p := f(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := p[0].Request(ctx, &transport.Msg{Subject: uniq("ct.nobody."), Data: []byte("x")})
	if !errors.Is(err, transport.ErrNoResponders) {
		t.Fatalf("err = %v, want ErrNoResponders", err)
	}
	if errors.Is(err, transport.ErrTimeout) || time.Since(start) > 4*time.Second {
		t.Fatalf("no-responders took %s (%v): must fail fast, not time out", time.Since(start), err)
	}
	if !catga.IsRetryable(err) {
		t.Errorf("no-responders must be retryable")
	}
}

// Timeout: a request not answered before ctx's deadline fails with a retryable ErrTimeout.
func Timeout(t *testing.T, f Factory) {
	p := f(t, 2)
	subject := uniq("ct.slow.")
	release := make(chan struct{})
	mustServe(t, p[0], subject, "svc", func(ctx context.Context, m *transport.Msg) *transport.Msg {
		if string(m.Data) == "probe" {
			return echo(ctx, m)
		}
		<-release
		return echo(ctx, m)
	})
	if _, err := request(t, p[1], &transport.Msg{Subject: subject, Data: []byte("probe")}); err != nil {
		t.Fatalf("probe: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p[1].Request(ctx, &transport.Msg{Subject: subject, Data: []byte("slow")})
	close(release)
	if !errors.Is(err, transport.ErrTimeout) || !catga.IsRetryable(err) {
		t.Fatalf("err = %v, want retryable ErrTimeout", err)
	}
}

// QueueGroup: each request reaches one member of every queue group serving its subject, and both members of a group take a share.
func QueueGroup(t *testing.T, f Factory) {
	p := f(t, 3)
	subject := uniq("ct.qg.")
	var a, b, other atomic.Int64
	counter := func(c *atomic.Int64) transport.RequestHandler {
		return func(ctx context.Context, m *transport.Msg) *transport.Msg {
			if string(m.Data) != "probe" {
				c.Add(1)
			}
			return echo(ctx, m)
		}
	}
	mustServe(t, p[0], subject, "svc", counter(&a))
	mustServe(t, p[1], subject, "svc", counter(&b))
	mustServe(t, p[2], subject, "other", counter(&other))
	// Both groups must be visible to the requester before counting.
	waitFor(t, 5*time.Second, "both queue members", func() bool {
		_, err := request(t, p[2], &transport.Msg{Subject: subject, Data: []byte("probe")})
		return err == nil
	})
	const n = 60
	for i := range n {
		if _, err := request(t, p[2], &transport.Msg{Subject: subject, Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// The "other" group answers too; wait for its copies (a reply from the
	// first group may win the race).
	waitFor(t, 5*time.Second, "every group to see every request", func() bool {
		return a.Load()+b.Load() == n && other.Load() == n
	})
	if a.Load() == 0 || b.Load() == 0 {
		t.Errorf("queue members got %d and %d of %d: want both to take a share", a.Load(), b.Load(), n)
	}
}

// Broadcast: a broadcast reaches every subscriber.
func Broadcast(t *testing.T, f Factory) {
	p := f(t, 3)
	subject := uniq("catga.bcast.ct")
	var mu sync.Mutex
	got := map[int]map[string]int{0: {}, 1: {}}
	for i := range 2 {
		s, err := p[i].SubscribeBroadcast(subject, func(_ context.Context, m *transport.Msg) {
			mu.Lock()
			got[i][string(m.Data)]++
			mu.Unlock()
		})
		if err != nil {
			t.Fatalf("SubscribeBroadcast: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
	}
	seen := func(data string) bool {
		mu.Lock()
		defer mu.Unlock()
		return got[0][data] > 0 && got[1][data] > 0
	}
	waitFor(t, 5*time.Second, "subscribers to be reachable", func() bool {
		_ = p[2].Broadcast(context.Background(), &transport.Msg{Subject: subject, Data: []byte("probe")})
		time.Sleep(20 * time.Millisecond)
		return seen("probe")
	})
	const n = 20
	for i := range n {
		if err := p[2].Broadcast(context.Background(), &transport.Msg{Subject: subject, Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatalf("Broadcast: %v", err)
		}
	}
	waitFor(t, 5*time.Second, "every subscriber to get every message", func() bool {
		for i := range n {
			if !seen(strconv.Itoa(i)) {
				return false
			}
		}
		return true
	})
}

func publish(t *testing.T, tr transport.Transport, subject, id, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := transport.Header{transport.HeaderNatsMsgID: {id}, transport.HeaderMsgID: {id}}
	if err := tr.PublishDurable(ctx, &transport.Msg{Subject: subject, Header: h, Data: []byte(data)}); err != nil {
		t.Fatalf("PublishDurable: %v", err)
	}
}

func consume(t *testing.T, tr transport.Transport, cfg transport.ConsumerConfig, h transport.DurableHandler) transport.Subscription {
	t.Helper()
	s, err := tr.Consume(cfg, h)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// DurableOnce: a durable message is handled once per consumer, by one of its members; a re-publication is stored once.
func DurableOnce(t *testing.T, f Factory) {
	p := f(t, 3)
	subject, name := uniq("catga.evt.ct.once"), uniq("svc")
	var mu sync.Mutex
	count := map[string]int{}
	perPeer := [2]int{}
	for i := range 2 {
		consume(t, p[i], transport.ConsumerConfig{Name: name, Subject: subject}, func(_ context.Context, d transport.Delivery) error {
			mu.Lock()
			count[string(d.Data)]++
			perPeer[i]++
			mu.Unlock()
			return nil
		})
	}
	const n = 20
	for i := range n {
		publish(t, p[2], subject, "id-"+strconv.Itoa(i), strconv.Itoa(i))
	}
	publish(t, p[2], subject, "id-0", "0") // published again: stored once
	waitFor(t, 10*time.Second, "all events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(count) >= n
	})
	time.Sleep(100 * time.Millisecond) // let a wrong second delivery show up
	mu.Lock()
	defer mu.Unlock()
	for k, c := range count {
		if c != 1 || k == "dup" {
			t.Errorf("event %q handled %d times, want once (duplicates dropped)", k, c)
		}
	}
}

// DurableBeforeConsumer: messages published before the consumer exists are delivered to it.
func DurableBeforeConsumer(t *testing.T, f Factory) {
	p := f(t, 2)
	subject, name := uniq("catga.evt.ct.early"), uniq("svc")
	publish(t, p[1], subject, uniq("id"), "early")
	got := make(chan string, 4)
	consume(t, p[0], transport.ConsumerConfig{Name: name, Subject: subject}, func(_ context.Context, d transport.Delivery) error {
		got <- string(d.Data)
		return nil
	})
	select {
	case s := <-got:
		if s != "early" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event published before the consumer existed was not delivered")
	}
}

// DurableRedelivery: a retryable failure gets the message redelivered with a growing attempt number.
func DurableRedelivery(t *testing.T, f Factory) {
	p := f(t, 1)
	subject, name := uniq("catga.evt.ct.redo"), uniq("svc")
	attempts := make(chan int, 8)
	consume(t, p[0], transport.ConsumerConfig{Name: name, Subject: subject, RetryDelay: 20 * time.Millisecond},
		func(_ context.Context, d transport.Delivery) error {
			attempts <- d.Attempt
			if d.Attempt == 1 {
				return errors.New("transient")
			}
			return nil
		})
	publish(t, p[0], subject, uniq("id"), "x")
	for want := 1; want <= 2; want++ {
		select {
		case a := <-attempts:
			if a != want {
				t.Fatalf("attempt = %d, want %d", a, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no delivery attempt %d", want)
		}
	}
	select {
	case a := <-attempts:
		t.Fatalf("unexpected delivery %d after success", a)
	case <-time.After(200 * time.Millisecond):
	}
}

// DeadLetter: permanent failures, rejections and spent retries go to the dead-letter subject with the reason.
func DeadLetter(t *testing.T, f Factory) {
	tests := []struct {
		name         string
		err          error
		wantAttempts int
		wantReason   string
	}{
		{"rejection is not retried", catga.Reject("bad_event", "no such order"), 1, "bad_event"},
		{"permanent is not retried", catga.Permanent(errors.New("cannot parse")), 1, "cannot parse"},
		{"retryable until MaxDeliver", errors.New("db down"), 3, "gave up after 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := f(t, 1)
			subject, name := uniq("catga.evt.ct.dead"), uniq("svc")
			var attempts atomic.Int64
			consume(t, p[0], transport.ConsumerConfig{Name: name, Subject: subject, MaxDeliver: 3, RetryDelay: 10 * time.Millisecond},
				func(context.Context, transport.Delivery) error {
					attempts.Add(1)
					return tc.err
				})
			dead := make(chan *transport.Msg, 4)
			consume(t, p[0], transport.ConsumerConfig{Name: name + "_dlq", Subject: transport.DeadLetterSubject(name)},
				func(_ context.Context, d transport.Delivery) error {
					dead <- d.Msg
					return nil
				})
			publish(t, p[0], subject, uniq("id"), "payload")
			select {
			case m := <-dead:
				if string(m.Data) != "payload" {
					t.Errorf("dead letter data = %q", m.Data)
				}
				if r := m.Header.Get(transport.HeaderDeadReason); !contains(r, tc.wantReason) {
					t.Errorf("dead reason = %q, want it to mention %q", r, tc.wantReason)
				}
				if s := m.Header.Get(transport.HeaderDeadSubject); s != subject {
					t.Errorf("dead subject = %q, want %q", s, subject)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no dead letter")
			}
			if got := attempts.Load(); got != int64(tc.wantAttempts) {
				t.Errorf("attempts = %d, want %d", got, tc.wantAttempts)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// Closed: a closed transport refuses every call with ErrClosed.
func Closed(t *testing.T, f Factory) {
	p := f(t, 1)
	if err := p[0].Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := p[0].Request(ctx, &transport.Msg{Subject: "ct.closed", Data: []byte("x")}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Request after Close: %v, want ErrClosed", err)
	}
	if _, err := p[0].Serve("ct.closed", "svc", echo, transport.ServeConfig{}); err == nil {
		t.Errorf("Serve after Close succeeded")
	}
}

// Typed layer: Route/Serve over the transport under test.

// Charge is a test command.
type Charge struct {
	OrderID string `json:"order_id"`
	Amount  int    `json:"amount"`
}

// Charged is its reply.
type Charged struct {
	OrderID       string `json:"order_id"`
	MessageID     string `json:"message_id"`
	CorrelationID string `json:"correlation_id"`
	Epoch         uint64 `json:"epoch"`
	HasDeadline   bool   `json:"has_deadline"`
}

func pair(t *testing.T, f Factory, subject string, h mediator.RequestHandler[Charge, Charged], opts ...any) (caller *mediator.Mediator) {
	t.Helper()
	p := f(t, 2)
	server := mediator.New()
	if err := mediator.Handle(server, h); err != nil {
		t.Fatal(err)
	}
	// opts go where they apply: ServeOptions to Serve, SendOptions to
	// Register (a CommonOption to both).
	var serve []transport.ServeOption
	send := []transport.SendOption{transport.WithRetry(20, 20*time.Millisecond)}
	for _, o := range opts {
		if o, ok := o.(transport.ServeOption); ok {
			serve = append(serve, o)
		}
		if o, ok := o.(transport.SendOption); ok {
			send = append(send, o)
		}
	}
	if _, err := transport.Serve(p[0], server, routeAt(subject), serve...); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	caller = mediator.New()
	if err := transport.Register(caller, p[1], routeAt(subject), send...); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return caller
}

// TypedSend: Route and Serve carry the request, its metadata and deadline, and the reply.
func TypedSend(t *testing.T, f Factory) {
	m := pair(t, f, uniq("catga.cmd.ct"), func(ctx context.Context, c Charge) (Charged, error) {
		md, _ := catga.MetadataFrom(ctx)
		_, dl := ctx.Deadline()
		return Charged{OrderID: c.OrderID, MessageID: md.MessageID, CorrelationID: md.CorrelationID, Epoch: md.Epoch, HasDeadline: dl}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = catga.WithMetadata(ctx, catga.Metadata{CorrelationID: "corr-1", Epoch: 7})
	got, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "o-1", Amount: 5})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got.OrderID != "o-1" || got.CorrelationID != "corr-1" || got.Epoch != 7 || !got.HasDeadline {
		t.Errorf("reply = %+v: want order o-1, correlation corr-1, epoch 7 and the caller's deadline", got)
	}
	if _, err := uuid.Parse(got.MessageID); err != nil {
		t.Errorf("generated message id %q is not a uuid: %v", got.MessageID, err)
	}
}

// TypedErrors: rejections, infrastructure and permanent failures reach the caller as such, and only infrastructure failures are retried.
func TypedErrors(t *testing.T, f Factory) {
	tests := []struct {
		name      string
		err       error
		check     func(error) bool
		retryable bool
		calls     func(int64) bool // how often the handler may run
	}{
		{"rejection", catga.Reject("insufficient_funds", "balance %d", 3), func(err error) bool {
			var r *catga.RejectionError
			return errors.As(err, &r) && r.Code == "insufficient_funds" && r.Reason == "balance 3"
		}, false, once},
		// Infrastructure failures are retried under the same id (the claim
		// is released) until the attempts run out; the caller learns the
		// status, not the handler's error text.
		{"infrastructure", errors.New("db down at 10.0.0.7"), func(err error) bool {
			return errors.Is(err, transport.ErrRemote) && !strings.Contains(err.Error(), "10.0.0.7")
		}, true, func(n int64) bool { return n > 1 }},
		{"permanent", catga.Permanent(errors.New("unsupported currency")), func(err error) bool { return errors.Is(err, transport.ErrBadRequest) }, false, once},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			m := pair(t, f, uniq("catga.cmd.ct"), func(context.Context, Charge) (Charged, error) {
				calls.Add(1)
				return Charged{}, tc.err
			})
			timeout := 10 * time.Second
			if tc.retryable {
				timeout = 1500 * time.Millisecond // retried until the deadline
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "o"})
			if err == nil || !tc.check(err) {
				t.Fatalf("err = %v (%T): wrong kind", err, err)
			}
			if catga.IsRetryable(err) != tc.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, !tc.retryable, tc.retryable)
			}
			if !tc.calls(calls.Load()) {
				t.Errorf("handler ran %d times", calls.Load())
			}
		})
	}
	t.Run("infrastructure, then recovers", func(t *testing.T) {
		var calls atomic.Int64
		m := pair(t, f, uniq("catga.cmd.ct"), func(_ context.Context, c Charge) (Charged, error) {
			if calls.Add(1) == 1 {
				return Charged{}, errors.New("failover in progress")
			}
			return Charged{OrderID: c.OrderID}, nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "o"})
		if err != nil || got.OrderID != "o" || calls.Load() != 2 {
			t.Fatalf("Send = %+v, %v after %d runs; want the retry to succeed", got, err, calls.Load())
		}
	})
}

func once(n int64) bool { return n == 1 }

// TypedBadRequest: malformed, oversized and mistyped requests get bad-request and never reach the handler.
func TypedBadRequest(t *testing.T, f Factory) {
	p := f(t, 2)
	subject := uniq("catga.cmd.ct")
	server := mediator.New()
	var calls atomic.Int64
	_ = mediator.Handle(server, func(context.Context, Charge) (Charged, error) { calls.Add(1); return Charged{}, nil })
	if _, err := transport.Serve(p[0], server, routeAt(subject),
		transport.WithCodec(transport.JSON{DisallowUnknownFields: true}), transport.WithMaxSize(64)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header transport.Header
		data   string
	}{
		{"malformed json", nil, `{"order_id":`},
		{"unknown field", nil, `{"order_id":"o","bogus":1}`},
		{"oversized", nil, `{"order_id":"` + string(make([]byte, 100)) + `"}`},
		{"bad epoch", transport.Header{transport.HeaderEpoch: {"-1"}}, `{"order_id":"o"}`},
		{"wrong content type", transport.Header{transport.HeaderContentType: {"application/xml"}}, `{"order_id":"o"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := request(t, p[1], &transport.Msg{Subject: subject, Header: tc.header, Data: []byte(tc.data)})
			if err != nil {
				t.Fatalf("Request: %v", err)
			}
			rep, err := transport.ReplyFromMsg(r)
			if err != nil || rep.Status != transport.StatusBadRequest {
				t.Fatalf("reply = %+v, %v: want status bad-request", rep, err)
			}
		})
	}
	if calls.Load() != 0 {
		t.Errorf("handler ran %d times on bad requests", calls.Load())
	}
}

// TypedIdempotent: a request sent again under one message id runs once and gets the first reply.
func TypedIdempotent(t *testing.T, f Factory) {
	var calls atomic.Int64
	m := pair(t, f, uniq("catga.cmd.ct"), func(ctx context.Context, c Charge) (Charged, error) {
		n := calls.Add(1)
		return Charged{OrderID: fmt.Sprintf("%s#%d", c.OrderID, n)}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = catga.WithMetadata(ctx, catga.Metadata{MessageID: uniq("msg")})
	first, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "o"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "o"})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || first != second {
		t.Errorf("same message id: handler ran %d times, replies %+v and %+v; want once and equal", calls.Load(), first, second)
	}
}

// TypedHandlerBoundedByLease: a handler may not outlive its claim on
// the message id (another peer could claim it then and run it again), so its
// context ends with the lease even when the caller allows longer.
func TypedHandlerBoundedByLease(t *testing.T, f Factory) {
	const lease = 200 * time.Millisecond
	var calls atomic.Int64
	firstErr := make(chan error, 1)
	m := pair(t, f, uniq("catga.cmd.ct"), func(ctx context.Context, c Charge) (Charged, error) {
		if calls.Add(1) > 1 {
			return Charged{OrderID: c.OrderID}, nil
		}
		entered := time.Now()
		dl, ok := ctx.Deadline()
		if !ok || dl.Sub(entered) > lease {
			firstErr <- fmt.Errorf("handler deadline %v after entry (set: %v), want at most the %v lease", dl.Sub(entered), ok, lease)
			return Charged{}, nil
		}
		<-ctx.Done() // a slow handler that honours ctx
		firstErr <- ctx.Err()
		return Charged{}, ctx.Err()
	}, transport.WithLease(lease))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = catga.WithMetadata(ctx, catga.Metadata{MessageID: uniq("msg")})
	// The cut-short run released its claim: the caller's retry with the
	// same id runs and succeeds.
	got, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "o-lease"})
	if err := <-firstErr; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first run ended with %v, want its context to end with the lease", err)
	}
	if err != nil || got.OrderID != "o-lease" || calls.Load() != 2 {
		t.Fatalf("retry = %+v, %v after %d runs; want it to run and succeed", got, err, calls.Load())
	}
}

// Shipped is a test event.
type Shipped struct {
	OrderID string `json:"order_id"`
}

// Refunded is a test event with its own id.
type Refunded struct {
	ID string `json:"id"`
}

// EventID makes Refunded a transport.Identified event.
func (r Refunded) EventID() string { return r.ID }

// TypedEvents: PublishEvent and ConsumeEvents deliver each event once per consuming service.
func TypedEvents(t *testing.T, f Factory) {
	p := f(t, 3)
	subject := uniq("catga.evt.ct.typed")
	var mu sync.Mutex
	handled := map[string]int{}
	for i := range 2 {
		m := mediator.New()
		_ = mediator.Subscribe(m, func(ctx context.Context, e Shipped) error {
			md, _ := catga.MetadataFrom(ctx)
			if md.MessageID == "" {
				return catga.Permanent(errors.New("no metadata in handler context"))
			}
			mu.Lock()
			handled[e.OrderID]++
			mu.Unlock()
			return nil
		})
		if _, err := transport.ConsumeEvents(p[i], m, uniq("notification"), topicAt[Shipped](subject)); err != nil {
			t.Fatalf("ConsumeEvents: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		if err := transport.PublishEvent(ctx, p[2], topicAt[Shipped](subject), Shipped{OrderID: strconv.Itoa(i)}); err != nil {
			t.Fatalf("PublishEvent: %v", err)
		}
	}
	// Two different services: each handles every event once.
	waitFor(t, 10*time.Second, "both services to handle every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range 5 {
			if handled[strconv.Itoa(i)] < 2 {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for k, n := range handled {
		if n != 2 {
			t.Errorf("event %s handled %d times, want 2 (once per service)", k, n)
		}
	}
}

// TypedBroadcast: BroadcastEvent reaches every SubscribeBroadcast instance.
func TypedBroadcast(t *testing.T, f Factory) {
	p := f(t, 3)
	subject := uniq("catga.bcast.ct")
	var mu sync.Mutex
	got := [2]map[string]int{{}, {}}
	for i := range 2 {
		m := mediator.New()
		_ = mediator.Subscribe(m, func(_ context.Context, e Shipped) error {
			mu.Lock()
			got[i][e.OrderID]++
			mu.Unlock()
			return nil
		})
		s, err := transport.SubscribeBroadcast(p[i], m, topicAt[Shipped](subject))
		if err != nil {
			t.Fatalf("SubscribeBroadcast: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
	}
	both := func(id string) bool {
		mu.Lock()
		defer mu.Unlock()
		return got[0][id] > 0 && got[1][id] > 0
	}
	ctx := context.Background()
	waitFor(t, 5*time.Second, "instances to be reachable", func() bool {
		_ = transport.BroadcastEvent(ctx, p[2], topicAt[Shipped](subject), Shipped{OrderID: "probe"})
		time.Sleep(20 * time.Millisecond)
		return both("probe")
	})
	if err := transport.BroadcastEvent(ctx, p[2], topicAt[Shipped](subject), Shipped{OrderID: "o-1"}); err != nil {
		t.Fatalf("BroadcastEvent: %v", err)
	}
	waitFor(t, 5*time.Second, "every instance to get the broadcast", func() bool { return both("o-1") })
}

// TypedEventIDDedup: events with their own id are stored once however often they are published.
func TypedEventIDDedup(t *testing.T, f Factory) {
	p := f(t, 1)
	subject := uniq("catga.evt.ct.refund")
	var n atomic.Int64
	m := mediator.New()
	_ = mediator.Subscribe(m, func(context.Context, Refunded) error { n.Add(1); return nil })
	if _, err := transport.ConsumeEvents(p[0], m, uniq("billing"), topicAt[Refunded](subject)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := uniq("refund-")
	for range 3 { // an outbox relay re-publishing after a crash
		if err := transport.PublishEvent(ctx, p[0], topicAt[Refunded](subject), Refunded{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := transport.PublishEvent(ctx, p[0], topicAt[Refunded](subject), Refunded{ID: id + "-other"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "both distinct events", func() bool { return n.Load() >= 2 })
	time.Sleep(100 * time.Millisecond)
	if n.Load() != 2 {
		t.Errorf("handled %d events, want 2 (three publishes of one id count once)", n.Load())
	}
}

// TypedNoResponders: a type nobody serves fails with no-responders after
// the few quick retries, well inside a long deadline, not with a timeout.
func TypedNoResponders(t *testing.T, f Factory) {
	p := f(t, 1)
	m := mediator.New()
	if err := transport.Register(m, p[0], routeAt(uniq("catga.cmd.nobody"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := mediator.Send[Charged](ctx, m, Charge{})
	if !errors.Is(err, transport.ErrNoResponders) || errors.Is(err, transport.ErrTimeout) {
		t.Fatalf("err = %v, want ErrNoResponders and not a timeout", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Send used up the caller's whole deadline")
	}
}

// TypedEventMalformed: an event that cannot be decoded goes to the dead
// letters with the reason, and the consumer carries on.
func TypedEventMalformed(t *testing.T, f Factory) {
	p := f(t, 1)
	subject, service := uniq("catga.evt.ct.bad"), uniq("billing")
	var good atomic.Int64
	m := mediator.New()
	_ = mediator.Subscribe(m, func(context.Context, Refunded) error { good.Add(1); return nil })
	if _, err := transport.ConsumeEvents(p[0], m, service, topicAt[Refunded](subject),
		transport.WithCodec(transport.JSON{DisallowUnknownFields: true})); err != nil {
		t.Fatal(err)
	}
	name := topicAt[Refunded](subject).Consumer(service)
	dead := make(chan *transport.Msg, 4)
	consume(t, p[0], transport.ConsumerConfig{Name: name + "_dlq", Subject: transport.DeadLetterSubject(name)},
		func(_ context.Context, d transport.Delivery) error { dead <- d.Msg; return nil })
	publish(t, p[0], subject, uniq("bad"), `{"id": 7, "unknown": true`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := transport.PublishEvent(ctx, p[0], topicAt[Refunded](subject), Refunded{ID: uniq("ok")}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-dead:
		if r := d.Header.Get(transport.HeaderDeadReason); !contains(r, "cannot decode") {
			t.Errorf("dead reason = %q, want a decode error", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("malformed event was not dead-lettered")
	}
	waitFor(t, 10*time.Second, "the good event after the bad one", func() bool { return good.Load() == 1 })
}

// AttemptDeadline: the serving side gets the deadline of the attempt
// (which the caller gives up on and retries), not the caller's whole
// budget, so that it does not hold a handler (or wait on another peer's
// claim) long after that attempt was abandoned.
func AttemptDeadline(t *testing.T, f Factory) {
	left := make(chan time.Duration, 1)
	m := pair(t, f, uniq("catga.cmd.ct"), func(ctx context.Context, c Charge) (Charged, error) {
		dl, _ := ctx.Deadline()
		left <- time.Until(dl)
		return Charged{OrderID: c.OrderID}, nil
	}, transport.WithAttemptTimeout(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "o"}); err != nil {
		t.Fatal(err)
	}
	if d := <-left; d > time.Second || d <= 0 {
		t.Errorf("handler had %v left, want at most the 1s attempt", d)
	}
}

// Canceled: a caller that cancels gets context.Canceled, not a
// timeout.
func Canceled(t *testing.T, f Factory) {
	entered := make(chan struct{}, 1)
	m := pair(t, f, uniq("catga.cmd.ct"), func(ctx context.Context, c Charge) (Charged, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return Charged{}, ctx.Err()
	}, transport.WithAttemptTimeout(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-entered; cancel() }()
	_, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "o"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, transport.ErrTimeout) {
		t.Fatalf("Send after cancel = %v; want context.Canceled, not ErrTimeout", err)
	}
}

// CallHeaders: per-call headers reach the handler, and cannot
// override the transport's own.
func CallHeaders(t *testing.T, f Factory) {
	got := make(chan transport.Header, 1)
	m := pair(t, f, uniq("catga.cmd.ct"), func(ctx context.Context, c Charge) (Charged, error) {
		got <- transport.HeadersFrom(ctx)
		md, _ := catga.MetadataFrom(ctx)
		return Charged{OrderID: c.OrderID, MessageID: md.MessageID}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = catga.WithMetadata(ctx, catga.Metadata{MessageID: "mine"})
	ctx = transport.WithHeaders(ctx, transport.Header{"Tenant": {"t-1"}, transport.HeaderMsgID: {"forged"}})
	resp, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "o"})
	if err != nil {
		t.Fatal(err)
	}
	h := <-got
	if h.Get("Tenant") != "t-1" {
		t.Errorf("handler saw headers %v, want Tenant t-1", h)
	}
	if resp.MessageID != "mine" || h.Get(transport.HeaderMsgID) != "mine" {
		t.Errorf("message id %q (header %q): a per-call header overrode the transport's", resp.MessageID, h.Get(transport.HeaderMsgID))
	}
}

// ConcurrentByDefault: with Serve's defaults, a request stuck in its
// handler (a slow dependency, a claim held by another peer) does not hold
// up the next request to the same peer.
func ConcurrentByDefault(t *testing.T, f Factory) {
	stuck, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	m := pair(t, f, uniq("catga.cmd.ct"), func(_ context.Context, c Charge) (Charged, error) {
		if c.OrderID == "slow" {
			close(stuck)
			<-release
		}
		return Charged{OrderID: c.OrderID}, nil
	})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = mediator.Send[Charged](ctx, m, Charge{OrderID: "slow"})
	}()
	<-stuck
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if got, err := mediator.Send[Charged](ctx, m, Charge{OrderID: "fast"}); err != nil || got.OrderID != "fast" {
		t.Fatalf("Send while another request is stuck = %+v, %v; want it answered", got, err)
	}
}
