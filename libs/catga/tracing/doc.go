// Package tracing carries W3C trace context through NATS message headers and
// starts the producer and consumer spans of the transport. By default it uses
// the global OpenTelemetry tracer provider and propagator (otel.SetTracerProvider,
// otel.SetTextMapPropagator); options override them.
package tracing
