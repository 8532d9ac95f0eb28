package eventstore

import (
	"context"
	"encoding/json"

	"github.com/catga-go/catga/libs/catga/tracing"
)

// tracer injects the appending context's trace into the stored events; with
// no propagator installed it does nothing and costs nothing.
var tracer = tracing.New()

// traceOf returns the W3C trace context of ctx as header → value, or nil.
func traceOf(ctx context.Context) map[string]string {
	h := map[string][]string{}
	tracer.Inject(ctx, h)
	if len(h) == 0 {
		return nil
	}
	m := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return m
}

// EncodeTrace is the stored form of [Record].Trace (and Metadata): a JSON
// object, or "" for none. For implementations.
func EncodeTrace(trace map[string]string) string {
	if len(trace) == 0 {
		return ""
	}
	b, _ := json.Marshal(trace) // a map of strings always marshals
	return string(b)
}

// DecodeTrace reverses [EncodeTrace]. A stored value that does not decode
// yields no trace rather than failing the read: tracing is best effort and
// must never make an event unreadable.
func DecodeTrace(s string) map[string]string {
	if s == "" {
		return nil
	}
	var m map[string]string
	if json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	return m
}
