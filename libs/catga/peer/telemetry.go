package peer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// telemetry is the peer's tracer and meter providers and what shuts them
// down.
type telemetry struct {
	tp       trace.TracerProvider
	mp       *sdkmetric.MeterProvider
	metrics  http.Handler // Prometheus exposition of mp
	shutdown func(ctx context.Context) error
}

// otlpConfigured reports whether the OTel environment asks for OTLP trace
// export.
func otlpConfigured() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// newTelemetry builds the providers. The resource names the service
// (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override), its version
// and this peer. Traces go to OTLP over HTTP when the standard OTLP
// variables are set (the exporter reads them), to tp when given, and
// nowhere otherwise. Metrics are served by the returned handler in the
// Prometheus format, from a registry of this peer's own.
func newTelemetry(ctx context.Context, cfg Config, instance string, tp trace.TracerProvider) (*telemetry, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(cfg.Service), semconv.ServiceVersion(cfg.Version), semconv.ServiceInstanceID(instance)))
	if err == nil {
		// Last, so the environment overrides the defaults above.
		var env *resource.Resource
		env, err = resource.New(ctx, resource.WithFromEnv())
		if err == nil {
			res, err = resource.Merge(res, env)
		}
	}
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, fmt.Errorf("catga: telemetry resource: %w", err)
	}
	t := &telemetry{tp: tp}
	var shutdowns []func(context.Context) error
	if tp == nil {
		opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
		if otlpConfigured() {
			exp, err := otlptracehttp.New(ctx)
			if err != nil {
				return nil, fmt.Errorf("catga: OTLP trace exporter: %w", err)
			}
			opts = append(opts, sdktrace.WithBatcher(exp))
		}
		sdk := sdktrace.NewTracerProvider(opts...)
		t.tp = sdk
		shutdowns = append(shutdowns, sdk.Shutdown)
	}
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("catga: prometheus exporter: %w", err)
	}
	t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(exp))
	shutdowns = append(shutdowns, t.mp.Shutdown)
	t.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	t.shutdown = func(ctx context.Context) error {
		var errs []error
		for _, s := range shutdowns {
			errs = append(errs, s(ctx))
		}
		return errors.Join(errs...)
	}
	// The library's packages that are not handed a provider follow the
	// global ones (the transport, the event store's trace capture); the
	// W3C propagators carry a trace across NATS and the outbox. OTel's
	// global delegate binds the tracers taken before the first Set to the
	// first provider set: in a process running several peers (a test),
	// those packages trace into the first peer's provider.
	otel.SetTracerProvider(t.tp)
	otel.SetMeterProvider(t.mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return t, nil
}

func (t *telemetry) meter() metric.Meter {
	return t.mp.Meter("github.com/catga-go/catga/libs/catga/peer")
}
