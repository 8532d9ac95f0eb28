package transport

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/catga-go/catga/libs/catga/mediator"
)

type fuzzReq struct {
	A string            `json:"a"`
	B []int             `json:"b"`
	C map[string]string `json:"c"`
}

// FuzzDecodeRequest feeds arbitrary headers and bodies to the serving side:
// it must answer every one with a reply (bad-request for garbage) and never
// panic.
func FuzzDecodeRequest(f *testing.F) {
	f.Add("", "", "", []byte(`{"a":"x","b":[1],"c":{"k":"v"}}`))
	f.Add("7", "1700000000000000000", "application/json", []byte(`{"a":`))
	f.Add("-1", "x", "text/plain", []byte{0xff, 0xfe})
	f.Add("18446744073709551616", "9223372036854775807", "", []byte(`null`))
	m := mediator.New()
	_ = mediator.Handle(m, func(_ context.Context, r fuzzReq) (fuzzReq, error) { return r, nil })
	s := &server[fuzzReq, fuzzReq]{m: m, o: mustServeOptions(WithMaxSize(1<<12), WithCodec(JSON{DisallowUnknownFields: true})), name: "fuzz", subject: "fuzz"}
	f.Fuzz(func(t *testing.T, epoch, deadline, ct string, data []byte) {
		h := Header{HeaderEpoch: {epoch}, HeaderTimeout: {deadline}, HeaderContentType: {ct}, HeaderMsgID: {epoch + deadline}}
		reply := s.handle(context.Background(), &Msg{Subject: "fuzz", Header: h, Data: data})
		if reply == nil {
			t.Fatal("nil reply")
		}
		if _, err := ReplyFromMsg(reply); err != nil {
			t.Fatalf("unreadable reply: %v", err)
		}
	})
}

// FuzzDecodeReply feeds arbitrary replies and cached replies to the caller's
// decoding: errors, never panics.
func FuzzDecodeReply(f *testing.F) {
	ok, _ := Reply{Status: StatusRejected, Code: "c", Reason: "r", Data: []byte("d")}.MarshalBinary()
	f.Add("ok", ok)
	f.Add("rejected", []byte{1, 200, 1})
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, status string, data []byte) {
		r, err := ReplyFromMsg(&Msg{Header: Header{HeaderStatus: {status}}, Data: data})
		if err == nil {
			_ = r.Err("fuzz")
		}
		var c Reply
		if err := c.UnmarshalBinary(data); err == nil {
			_ = c.Err("fuzz")
			b, _ := c.MarshalBinary()
			var again Reply
			if err := again.UnmarshalBinary(b); err != nil || again.Status != c.Status || again.Code != c.Code || again.Reason != c.Reason || string(again.Data) != string(c.Data) {
				t.Fatalf("cached reply does not round-trip: %+v vs %+v (%v)", c, again, err)
			}
		}
	})
}

// FuzzJSONDepth: the codec never panics on any input, and the same input
// nested past the limit is always refused as too deep.
func FuzzJSONDepth(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"[\"]"}]}`))
	f.Add([]byte(`"\\"`))
	f.Add([]byte(`[[[[`))
	f.Add([]byte(`]]]]{{`))
	c := JSON{MaxDepth: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := checkDepth(data, 8) != nil, checkDepthSlow(data, 8); got != want {
			t.Fatalf("checkDepth(%q) too deep = %v, reference says %v", data, got, want)
		}
		var v any
		_ = c.Unmarshal(data, &v)
		var r fuzzReq
		_ = c.Unmarshal(data, &r)
		wrapped := append(append(bytes.Repeat([]byte("["), 9), data...), bytes.Repeat([]byte("]"), 9)...)
		if err := c.Unmarshal(wrapped, &v); !errors.Is(err, ErrTooDeep) && !strings.Contains(string(data), `"`) {
			// A quote in data may open a string that swallows the
			// wrapping; without one the nesting is certain.
			t.Fatalf("Unmarshal of %q nested 9 deep: %v, want ErrTooDeep", data, err)
		}
	})
}

// checkDepthSlow is the byte-by-byte statement of checkDepth's rule.
func checkDepthSlow(data []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '[', '{':
			if depth++; depth > limit {
				return true
			}
		case ']', '}':
			depth--
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		}
	}
	return false
}
