package tracing

import (
	"context"
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Carrier is a [propagation.TextMapCarrier] over message headers
// (nats.Header converts to it without copying). NATS header keys are
// case-sensitive, so Carrier reads and writes the map directly instead of
// canonicalising keys the way net/http does: "traceparent" stays lowercase,
// as the W3C propagator writes and reads it.
type Carrier map[string][]string

var _ propagation.TextMapCarrier = Carrier(nil)

// Get returns the first value of key, or "".
func (c Carrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key with value.
func (c Carrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the keys present.
func (c Carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Tracer starts messaging spans and moves their context through headers.
type Tracer struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	kinds      map[trace.SpanKind][]trace.SpanStartOption // built once: options allocate
	// followGlobal: no provider was given, so spans go to whatever the
	// global provider is at the time; off: the given provider is a no-op.
	followGlobal, off bool
}

// The global providers OTel starts with delegate to nothing until the
// application installs real ones, and otel.Get* return other values from
// then on. While they still return these, starting a span or propagating
// costs allocations, a mutex and a string for nothing, and is skipped. The
// type check guards against a real provider installed before this
// package's init.
var (
	initialTP      = otel.GetTracerProvider()
	initialProp    = otel.GetTextMapPropagator()
	initialTPOff   = isOTelGlobalDelegate(initialTP)
	initialPropOff = isOTelGlobalDelegate(initialProp)
)

func isOTelGlobalDelegate(v any) bool {
	t := reflect.TypeOf(v)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// nopSpan is returned when no span is started; a package value, so that
// returning it does not allocate.
var nopSpan trace.Span = noop.Span{}

// Option configures a Tracer.
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider replaces the global tracer provider.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithPropagator replaces the global text map propagator.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// New returns a Tracer; without options it follows the global providers,
// including ones installed after New returns.
func New(opts ...Option) *Tracer {
	var c config
	for _, o := range opts {
		o(&c)
	}
	t := &Tracer{propagator: c.prop, kinds: map[trace.SpanKind][]trace.SpanStartOption{}}
	switch c.tp.(type) {
	case nil:
		c.tp, t.followGlobal = otel.GetTracerProvider(), true
	case noop.TracerProvider, *noop.TracerProvider:
		t.off = true
	}
	t.tracer = c.tp.Tracer("github.com/catga-go/catga/libs/catga/transport")
	for _, k := range []trace.SpanKind{trace.SpanKindClient, trace.SpanKindServer, trace.SpanKindProducer, trace.SpanKindConsumer} {
		t.kinds[k] = []trace.SpanStartOption{trace.WithSpanKind(k)}
	}
	return t
}

// prop returns the propagator, nil when it is the untouched global no-op.
func (t *Tracer) prop() propagation.TextMapPropagator {
	if t.propagator != nil {
		return t.propagator
	}
	p := otel.GetTextMapPropagator()
	if initialPropOff && p == initialProp {
		return nil
	}
	return p
}

// recording reports whether spans may be recorded: false for a no-op
// provider, or while following the untouched global one.
func (t *Tracer) recording() bool {
	if t.off {
		return false
	}
	return !t.followGlobal || !initialTPOff || otel.GetTracerProvider() != initialTP
}

// Inject writes the trace context of ctx into h.
func (t *Tracer) Inject(ctx context.Context, h map[string][]string) {
	if p := t.prop(); p != nil {
		p.Inject(ctx, Carrier(h))
	}
}

// Extract returns ctx with the remote trace context found in h.
func (t *Tracer) Extract(ctx context.Context, h map[string][]string) context.Context {
	if p := t.prop(); p != nil {
		return p.Extract(ctx, Carrier(h))
	}
	return ctx
}

// StartSend starts the span of an outgoing message (kind Client for a
// request, Producer for an event) and injects its context into h. With a
// no-op provider no span is started: the context of ctx (if any) still
// goes into h, and the returned span is a no-op.
func (t *Tracer) StartSend(ctx context.Context, kind trace.SpanKind, subject, msgID string, h map[string][]string) (context.Context, trace.Span) {
	if !t.recording() {
		t.Inject(ctx, h)
		return ctx, nopSpan
	}
	ctx, span := t.tracer.Start(ctx, "send "+subject, t.kind(kind)...)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", msgID))
	}
	t.Inject(ctx, h)
	return ctx, span
}

// StartReceive extracts the remote context from h and starts the span of
// handling the message (kind Server for a request, Consumer for an event).
// With a no-op provider only the remote context is extracted.
func (t *Tracer) StartReceive(ctx context.Context, kind trace.SpanKind, subject, msgID string, h map[string][]string) (context.Context, trace.Span) {
	ctx = t.Extract(ctx, h)
	if !t.recording() {
		return ctx, nopSpan
	}
	ctx, span := t.tracer.Start(ctx, "process "+subject, t.kind(kind)...)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", msgID))
	}
	return ctx, span
}

// End records err (if any) on span and ends it.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func (t *Tracer) kind(k trace.SpanKind) []trace.SpanStartOption {
	if o, ok := t.kinds[k]; ok {
		return o
	}
	return []trace.SpanStartOption{trace.WithSpanKind(k)}
}
