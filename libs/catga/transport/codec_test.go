package transport

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
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
