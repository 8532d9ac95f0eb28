package mediator

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Kind tells requests (commands and queries) from events.
type Kind uint8

const (
	// KindRequest is a command or query: exactly one handler, one response.
	KindRequest Kind = iota + 1
	// KindEvent is an event: any number of handlers, no response.
	KindEvent
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindEvent:
		return "event"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// Message is one in-flight request or event as middleware sees it.
//
// A Message is only valid until the handler it was passed to returns: the
// mediator reuses it for later calls. Middleware must pass on the Message it
// received (not a wrapper) and must not keep it, or hand it to a goroutine
// that outlives the call.
type Message interface {
	// Kind says whether this is a request or an event.
	Kind() Kind
	// Type is the Go type of the payload, e.g. "orders.PlaceOrder".
	Type() string
	// Payload returns the request or event. It boxes the value, so hot-path
	// middleware should avoid calling it.
	Payload() any
}

// Handler is the type-erased form of a handler, the form middleware wraps.
type Handler func(ctx context.Context, msg Message) error

// Middleware wraps a Handler. It is applied once per registered handler, at
// registration, in the order given to [WithMiddleware]: the first one is the
// outermost.
type Middleware func(next Handler) Handler

// RequestHandler handles one request type and returns its response.
type RequestHandler[Req, Resp any] func(ctx context.Context, req Req) (Resp, error)

// EventHandler handles one event type.
type EventHandler[E any] func(ctx context.Context, event E) error

// Mediator routes requests and events to typed handlers. The zero value is
// not usable; create one with [New].
type Mediator struct {
	middleware        []Middleware
	concurrentPublish bool

	mu       sync.Mutex                      // serialises registration
	registry atomic.Pointer[map[uintptr]any] // copy-on-write; values are *requestEntry or *eventEntry
}

// Option configures a Mediator.
type Option func(*Mediator)

// WithMiddleware appends middleware applied to every handler registered
// afterwards.
func WithMiddleware(mw ...Middleware) Option {
	return func(m *Mediator) { m.middleware = append(m.middleware, mw...) }
}

// WithConcurrentPublish makes [Publish] run an event's handlers concurrently
// instead of one after another. Either way every handler runs and their
// errors are joined.
func WithConcurrentPublish() Option {
	return func(m *Mediator) { m.concurrentPublish = true }
}

// New returns a Mediator with no handlers.
func New(opts ...Option) *Mediator {
	m := &Mediator{}
	for _, opt := range opts {
		opt(m)
	}
	empty := map[uintptr]any{}
	m.registry.Store(&empty)
	return m
}

// typeKey returns the registry key of T without boxing a T.
func typeKey[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

// typeID identifies T by the address of the runtime type descriptor of *T,
// which the linker makes unique per type. It is the hot-path registry key:
// hashing a uintptr is several times cheaper than hashing a reflect.Type
// interface, and Send does it on every call.
func typeID[T any]() uintptr {
	var p any = (*T)(nil)
	return uintptr((*[2]unsafe.Pointer)(unsafe.Pointer(&p))[0])
}

func (m *Mediator) lookup(id uintptr) any { return (*m.registry.Load())[id] }

// update applies fn to a copy of the registry and publishes the copy.
func (m *Mediator) update(fn func(reg map[uintptr]any) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.registry.Load()
	next := make(map[uintptr]any, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	if err := fn(next); err != nil {
		return err
	}
	m.registry.Store(&next)
	return nil
}

func (m *Mediator) compose(terminal Handler) Handler {
	h := terminal
	for i := len(m.middleware) - 1; i >= 0; i-- {
		h = m.middleware[i](h)
	}
	return h
}

// requestFrame carries one request through the middleware pipeline. Frames
// are pooled per request type so that Send does not allocate.
type requestFrame[Req, Resp any] struct {
	entry *requestEntry[Req, Resp]
	req   Req
	resp  Resp
}

func (f *requestFrame[Req, Resp]) Kind() Kind      { return KindRequest }
func (f *requestFrame[Req, Resp]) Type() string    { return f.entry.name }
func (f *requestFrame[Req, Resp]) Payload() any    { return f.req }
func (f *requestFrame[Req, Resp]) payloadPtr() any { return &f.req }

type requestEntry[Req, Resp any] struct {
	name     string
	handler  RequestHandler[Req, Resp]
	pipeline Handler // nil when there is no middleware
	frames   sync.Pool
}

// Handle registers h as the handler of requests of type Req. It fails with
// [ErrNilHandler] or, when Req already has a handler, [ErrDuplicateHandler].
func Handle[Req, Resp any](m *Mediator, h RequestHandler[Req, Resp]) error {
	key := typeKey[Req]()
	if h == nil {
		return fmt.Errorf("%w for %s", ErrNilHandler, key)
	}
	e := &requestEntry[Req, Resp]{name: key.String(), handler: h}
	e.frames.New = func() any { return &requestFrame[Req, Resp]{entry: e} }
	if len(m.middleware) > 0 {
		e.pipeline = m.compose(func(ctx context.Context, msg Message) error {
			f, ok := msg.(*requestFrame[Req, Resp])
			if !ok {
				return fmt.Errorf("%w: %s got %T", ErrForeignMessage, e.name, msg)
			}
			var err error
			f.resp, err = h(ctx, f.req)
			return err
		})
	}
	return m.update(func(reg map[uintptr]any) error {
		id := typeID[Req]()
		if _, dup := reg[id]; dup {
			return fmt.Errorf("%w for %s", ErrDuplicateHandler, key)
		}
		reg[id] = e
		return nil
	})
}

// Send dispatches req to the one handler registered for its type and returns
// the handler's response. Resp must be the response type the handler was
// registered with.
//
// Type parameters are [Req, Resp] throughout the library (RequestHandler,
// Handle, transport.Route); Send is the one exception, because Resp cannot
// be inferred from the arguments and Go lets only leading type arguments
// be given: Send[Resp](ctx, m, req) beats Send[Req, Resp](ctx, m, req).
func Send[Resp, Req any](ctx context.Context, m *Mediator, req Req) (Resp, error) {
	var zero Resp
	found := m.lookup(typeID[Req]())
	if found == nil {
		return zero, fmt.Errorf("%w for %s", ErrNoHandler, typeKey[Req]())
	}
	e, ok := found.(*requestEntry[Req, Resp])
	if !ok {
		return zero, fmt.Errorf("%w: %s asked for %s", ErrResponseType, typeKey[Req](), typeKey[Resp]())
	}
	if e.pipeline == nil {
		return e.handler(ctx, req)
	}
	f := e.frames.Get().(*requestFrame[Req, Resp])
	f.req = req
	err := e.pipeline(ctx, f)
	resp := f.resp
	f.req, f.resp = *new(Req), zero // drop references before pooling
	e.frames.Put(f)
	return resp, err
}

// HasHandler reports whether a handler is registered for requests of type Req.
func HasHandler[Req any](m *Mediator) bool {
	_, ok := m.lookup(typeID[Req]()).(interface{ isRequestEntry() })
	return ok
}

func (e *requestEntry[Req, Resp]) isRequestEntry() {}

// eventFrame carries one event through the handlers' pipelines. It is
// read-only while handlers run, so concurrent handlers share it.
type eventFrame[E any] struct {
	entry *eventEntry[E]
	event E
}

func (f *eventFrame[E]) Kind() Kind      { return KindEvent }
func (f *eventFrame[E]) Type() string    { return f.entry.name }
func (f *eventFrame[E]) Payload() any    { return f.event }
func (f *eventFrame[E]) payloadPtr() any { return &f.event }

type eventEntry[E any] struct {
	name       string
	handlers   []Handler // each handler's composed pipeline
	frames     *sync.Pool
	concurrent bool
}

// Subscribe registers h as one more handler of events of type E. It fails
// only with [ErrNilHandler].
func Subscribe[E any](m *Mediator, h EventHandler[E]) error {
	key := typeKey[E]()
	if h == nil {
		return fmt.Errorf("%w for %s", ErrNilHandler, key)
	}
	name := key.String()
	pipeline := m.compose(func(ctx context.Context, msg Message) error {
		f, ok := msg.(*eventFrame[E])
		if !ok {
			return fmt.Errorf("%w: %s got %T", ErrForeignMessage, name, msg)
		}
		return h(ctx, f.event)
	})
	return m.update(func(reg map[uintptr]any) error {
		next := &eventEntry[E]{name: name, concurrent: m.concurrentPublish, frames: new(sync.Pool)}
		id := typeID[E]()
		if old, ok := reg[id].(*eventEntry[E]); ok {
			next.handlers = append(next.handlers, old.handlers...)
			next.frames = old.frames
		}
		next.handlers = append(next.handlers, pipeline)
		reg[id] = next
		return nil
	})
}

// Publish delivers event to every handler registered for its type. Every
// handler runs even when some fail; the failures are joined with
// [errors.Join]. An event nobody subscribed to is not an error.
func Publish[E any](ctx context.Context, m *Mediator, event E) error {
	e, _ := m.lookup(typeID[E]()).(*eventEntry[E])
	if e == nil {
		return nil
	}
	f, _ := e.frames.Get().(*eventFrame[E])
	if f == nil {
		f = &eventFrame[E]{}
	}
	f.entry, f.event = e, event
	var err error
	if e.concurrent && len(e.handlers) > 1 {
		err = publishConcurrently(ctx, e.handlers, f)
	} else {
		err = publishSequentially(ctx, e.handlers, f)
	}
	*f = eventFrame[E]{}
	e.frames.Put(f)
	return err
}

func publishSequentially(ctx context.Context, handlers []Handler, msg Message) error {
	var errs []error
	for _, h := range handlers {
		if err := h(ctx, msg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// publishConcurrently runs every handler in its own goroutine. A panic is
// carried back and re-raised in the publisher's goroutine, as it would be
// sequentially, instead of crashing the process from a goroutine nobody can
// recover.
func publishConcurrently(ctx context.Context, handlers []Handler, msg Message) error {
	errs := make([]error, len(handlers))
	var (
		wg       sync.WaitGroup
		panicked atomic.Pointer[any]
	)
	for i, h := range handlers {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					panicked.CompareAndSwap(nil, &r)
				}
			}()
			errs[i] = h(ctx, msg)
		})
	}
	wg.Wait()
	if p := panicked.Load(); p != nil {
		panic(*p)
	}
	return errors.Join(errs...)
}
