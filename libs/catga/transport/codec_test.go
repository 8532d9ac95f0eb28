package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/mediator"
)

type compatInner struct {
	N float64 `json:"n,omitempty"`
	S []string
}

type compatMsg struct {
	ID     int               `json:"id"`
	Body   string            `json:"body"`
	HTML   string            `json:"html"`
	Uni    string            `json:"uni"`
	Map    map[string]int    `json:"map"`
	Ptr    *compatInner      `json:"ptr"`
	Inner  compatInner       `json:"inner"`
	When   time.Time         `json:"when"`
	Raw    json.RawMessage   `json:"raw"`
	Skip   string            `json:"-"`
	Omit   string            `json:"omit,omitempty"`
	Bytes  []byte            `json:"bytes"`
	Any    any               `json:"any"`
	Labels map[string]string `json:"labels,omitempty"`
}

// TestJSONMatchesStdlib: the codec must produce what encoding/json
// produces and read what it reads, since peers may use either.
func TestJSONMatchesStdlib(t *testing.T) {
	tests := []struct {
		name string
		v    compatMsg
	}{
		{"zero", compatMsg{}},
		{"full", compatMsg{
			ID: -7, Body: strings.Repeat("x", 300), HTML: "<a href=\"x\">&</a>", Uni: "é\u2028\x01\"\\",
			Map: map[string]int{"b": 2, "a": 1, "c": 3}, Ptr: &compatInner{N: 1.5e300, S: []string{"p"}},
			Inner: compatInner{S: []string{}}, When: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
			Raw: json.RawMessage(`{"k":[1,2]}`), Skip: "no", Bytes: []byte{0, 1, 255},
			Any: map[string]any{"x": []any{1.0, "y", nil, true}}, Labels: map[string]string{"k": "v"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := JSON{}.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal:\n got %s\nwant %s", got, want)
			}
			var a, b compatMsg
			if err := json.Unmarshal(want, &a); err != nil {
				t.Fatal(err)
			}
			if err := (JSON{DisallowUnknownFields: true}).Unmarshal(want, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("Unmarshal:\n got %+v\nwant %+v", b, a)
			}
		})
	}
}

func BenchmarkJSONCodec(b *testing.B) {
	v := benchEcho{ID: 1, Body: strings.Repeat("x", 256)}
	data, _ := json.Marshal(v)
	b.Run("Marshal/stdlib", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(v)
		}
	})
	b.Run("Marshal/codec", func(b *testing.B) {
		for b.Loop() {
			_, _ = JSON{}.Marshal(v)
		}
	})
	b.Run("Unmarshal/stdlib", func(b *testing.B) {
		for b.Loop() {
			var x benchEcho
			_ = json.Unmarshal(data, &x)
		}
	})
	b.Run("Unmarshal/codec", func(b *testing.B) {
		for b.Loop() {
			var x benchEcho
			_ = JSON{}.Unmarshal(data, &x)
		}
	})
}

// TestJSONRejectsDeepNesting: input nested past MaxDepth is refused with
// ErrTooDeep before the recursive parser sees it; a megabyte of "[" costs
// a scan, not a quarter-gigabyte goroutine stack.
func TestJSONRejectsDeepNesting(t *testing.T) {
	deep := func(open, close string, n int) []byte {
		return []byte(strings.Repeat(open, n) + strings.Repeat(close, n))
	}
	tests := []struct {
		name  string
		codec JSON
		data  []byte
		deep  bool
	}{
		{"1 MiB of [", JSON{}, bytes.Repeat([]byte("["), 1<<20), true},
		{"1 MiB of {\"a\":", JSON{}, bytes.Repeat([]byte(`{"a":`), 1<<20/5), true},
		{"one past the default", JSON{}, deep("[", "]", DefaultMaxDepth+1), true},
		{"at the default", JSON{}, deep("[", "]", DefaultMaxDepth), false},
		{"custom limit", JSON{MaxDepth: 3}, deep("[", "]", 4), true},
		{"brackets in strings do not count", JSON{MaxDepth: 2}, []byte(`["[[[[{{{{\"[[[["]`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			start := time.Now()
			err := tc.codec.Unmarshal(tc.data, &v)
			if got := errors.Is(err, ErrTooDeep); got != tc.deep {
				t.Fatalf("Unmarshal: %v; want ErrTooDeep %v", err, tc.deep)
			}
			if !tc.deep && err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}

// TestServeRefusesDeepRequest: the serving side answers a deeply nested
// request with bad-request and never runs the handler.
func TestServeRefusesDeepRequest(t *testing.T) {
	m := mediator.New()
	ran := false
	_ = mediator.Handle(m, func(_ context.Context, r fuzzReq) (fuzzReq, error) { ran = true; return r, nil })
	s := &server[fuzzReq, fuzzReq]{m: m, o: mustServeOptions(WithMaxSize(2 << 20)), name: "deep", subject: "deep"}
	reply := s.handle(context.Background(), &Msg{Subject: "deep", Header: Header{}, Data: bytes.Repeat([]byte("["), 1<<20)})
	r, err := ReplyFromMsg(reply)
	if err != nil || r.Status != StatusBadRequest || !strings.Contains(r.Reason, "too deep") {
		t.Fatalf("reply %+v, %v: want bad-request naming the depth", r.Status, r.Reason)
	}
	if ran {
		t.Error("the handler ran")
	}
}

func mustServeOptions(opts ...ServeOption) *options {
	o, err := serveOptions(opts)
	if err != nil {
		panic(err)
	}
	return o
}
