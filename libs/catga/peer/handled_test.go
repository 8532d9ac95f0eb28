package peer_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/peer"
)

type fail struct{}

// TestHandledMetrics: every request and event a handler ran is counted
// once, by kind, type and outcome.
func TestHandledMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mw, err := peer.HandledMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	m := mediator.New(mediator.WithMiddleware(mw))
	errFail := errors.New("fails")
	err = errors.Join(
		mediator.Handle(m, func(context.Context, ping) (int, error) { return 1, nil }),
		mediator.Handle(m, func(context.Context, fail) (int, error) { return 0, errFail }),
		mediator.Subscribe(m, func(context.Context, tick) error { return nil }),
	)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := mediator.Send[int](t.Context(), m, ping{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mediator.Send[int](t.Context(), m, fail{}); !errors.Is(err, errFail) {
		t.Fatalf("send fail = %v", err)
	}
	if err := mediator.Publish(t.Context(), m, tick{}); err != nil {
		t.Fatal(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[[3]string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != "catga.messages.handled" {
				continue
			}
			for _, dp := range md.Data.(metricdata.Sum[int64]).DataPoints {
				val := func(k string) string { v, _ := dp.Attributes.Value(attribute.Key(k)); return v.AsString() }
				got[[3]string{val("kind"), val("type"), val("outcome")}] += dp.Value
			}
		}
	}
	want := map[[3]string]int64{
		{"request", "peer_test.ping", "ok"}:    2,
		{"request", "peer_test.fail", "error"}: 1,
		{"event", "peer_test.tick", "ok"}:      1,
	}
	if len(got) != len(want) {
		t.Fatalf("counted %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%v counted %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}
