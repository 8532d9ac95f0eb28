package transport

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/mediator"
)

// direct is a Transport that calls the served handler synchronously, so
// that BenchmarkOverhead measures only what Route and Serve add to a
// request (codec, headers, ids, idempotency, tracing), without a network.
type direct struct {
	Transport
	h RequestHandler
}

func (d *direct) Serve(_, _ string, h RequestHandler, _ ServeConfig) (Subscription, error) {
	d.h = h
	return nil, nil
}

func (d *direct) Request(ctx context.Context, m *Msg) (*Msg, error) { return d.h(ctx, m), nil }

type benchEcho struct {
	ID   int    `json:"id"`
	Body string `json:"body"`
}

func BenchmarkOverhead(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []ServeOption
	}{
		{"default", nil},
		{"no-idempotency", []ServeOption{WithoutIdempotency()}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := &direct{}
			sm := mediator.New()
			_ = mediator.Handle(sm, func(_ context.Context, e benchEcho) (benchEcho, error) { return e, nil })
			if _, err := Serve(d, sm, benchRoute, tc.opts...); err != nil {
				b.Fatal(err)
			}
			cm := mediator.New()
			_ = Register(cm, d, benchRoute)
			req := benchEcho{ID: 1, Body: strings.Repeat("x", 256)}
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mediator.Send[benchEcho](ctx, cm, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchRoute = NewRoute[benchEcho, benchEcho]("bench.echo")
