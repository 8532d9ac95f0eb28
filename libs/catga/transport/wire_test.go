package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
)

func TestReplyRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		status    Status
		retryable bool
		check     func(error) bool
	}{
		{"ok", nil, StatusOK, false, func(err error) bool { return err == nil }},
		{"rejection", catga.Reject("out_of_stock", "sku %s", "a"), StatusRejected, false, func(err error) bool {
			var r *catga.RejectionError
			return errors.As(err, &r) && r.Code == "out_of_stock" && r.Reason == "sku a"
		}},
		{"wrapped rejection", fmt.Errorf("charge: %w", catga.Reject("declined", "card")), StatusRejected, false, func(err error) bool {
			var r *catga.RejectionError
			return errors.As(err, &r) && r.Code == "declined"
		}},
		{"infrastructure", errors.New("db down"), StatusError, true, func(err error) bool { return errors.Is(err, ErrRemote) }},
		{"permanent", catga.Permanent(errors.New("bad currency")), StatusBadRequest, false, func(err error) bool { return errors.Is(err, ErrBadRequest) }},
		{"busy", &RemoteError{Status: StatusBusy, Message: "x"}, StatusBusy, true, func(err error) bool { return errors.Is(err, ErrBusy) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ReplyFromError(tc.err)
			if r.Status != tc.status {
				t.Fatalf("status = %s, want %s", r.Status, tc.status)
			}
			// Through the wire form and through the cache form.
			wire, err := ReplyFromMsg(r.Msg())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := r.MarshalBinary()
			var cached Reply
			if err := cached.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			for _, got := range []Reply{wire, cached} {
				err := got.Err("catga.cmd.x")
				if !tc.check(err) {
					t.Errorf("caller error %v (%T) is not what %s should give", err, err, tc.name)
				}
				if catga.IsRetryable(err) != tc.retryable {
					t.Errorf("IsRetryable(%v) = %v, want %v", err, catga.IsRetryable(err), tc.retryable)
				}
			}
		})
	}
}

func TestReplyFromMsg(t *testing.T) {
	tests := []struct {
		name    string
		header  Header
		want    Status
		wantErr bool
	}{
		{"no status means ok (plain NATS responder)", nil, StatusOK, false},
		{"ok", Header{HeaderStatus: {"ok"}}, StatusOK, false},
		{"unknown status", Header{HeaderStatus: {"maybe"}}, 0, true},
		{"status key is case-sensitive", Header{"catga-status": {"rejected"}}, StatusOK, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ReplyFromMsg(&Msg{Header: tc.header, Data: []byte("d")})
			if (err != nil) != tc.wantErr || (err == nil && r.Status != tc.want) {
				t.Fatalf("ReplyFromMsg = %+v, %v; want status %s, error %v", r, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	md := catga.Metadata{MessageID: "m", CorrelationID: "c", CausationID: "k", IdempotencyKey: "i", Epoch: 42}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := Header{}
	WriteMetadata(ctx, h, md)
	got, gotDL, err := ReadMetadata(h)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(gotDL); got != md || left > time.Minute || left < 59*time.Second {
		t.Errorf("got %+v with %v left, want %+v with about a minute", got, left, md)
	}
	// The header is relative: a receiver whose clock is an hour off
	// still gets the time the sender had left.
	if v := h.Get(HeaderTimeout); strings.Contains(v, ":") || len(v) > 12 {
		t.Errorf("timeout header %q is not a relative duration in ns", v)
	}
	for _, bad := range []Header{{HeaderEpoch: {"x"}}, {HeaderTimeout: {"soon"}}, {HeaderTimeout: {"-5"}}} {
		if _, _, err := ReadMetadata(bad); !errors.Is(err, ErrDecode) {
			t.Errorf("ReadMetadata(%v) err = %v, want ErrDecode", bad, err)
		}
	}
}

func TestOutgoingMetadata(t *testing.T) {
	ids := 0
	newID := func() string { ids++; return fmt.Sprintf("id%d", ids) }
	type send struct{ subject, body string }
	a1, a2, b1 := send{"a", "1"}, send{"a", "2"}, send{"b", "1"}
	tests := []struct {
		name  string
		ctx   func() context.Context
		sends []send
		want  []catga.Metadata
	}{
		{"fresh", context.Background, []send{a1, a1},
			[]catga.Metadata{{MessageID: "id1", CorrelationID: "id1"}, {MessageID: "id2", CorrelationID: "id2"}}},
		{"caller's own metadata is kept for a retry and for other subjects",
			func() context.Context {
				return catga.WithMetadata(context.Background(), catga.Metadata{MessageID: "mine", CorrelationID: "c", IdempotencyKey: "k", Epoch: 3})
			},
			[]send{a1, a1, b1},
			[]catga.Metadata{
				{MessageID: "mine", CorrelationID: "c", IdempotencyKey: "k", Epoch: 3},
				{MessageID: "mine", CorrelationID: "c", IdempotencyKey: "k", Epoch: 3},
				{MessageID: "mine", CorrelationID: "c", IdempotencyKey: "k", Epoch: 3}}},
		{"a second, different message to one subject gets a derived id and key",
			func() context.Context {
				return catga.WithMetadata(context.Background(), catga.Metadata{MessageID: "mine", CorrelationID: "c", IdempotencyKey: "k"})
			},
			[]send{a1, a2},
			[]catga.Metadata{
				{MessageID: "mine", CorrelationID: "c", IdempotencyKey: "k"},
				{MessageID: childID("mine", "a", 1), CorrelationID: "c", IdempotencyKey: "k#1"}}},
		{"sent while handling a message: derived ids, caused by it",
			func() context.Context {
				return inboundContext(context.Background(), catga.Metadata{MessageID: "in", CorrelationID: "c", IdempotencyKey: "k", Epoch: 5}, nil)
			},
			[]send{a1, a2, a1, b1},
			[]catga.Metadata{
				{MessageID: childID("in", "a", 0), CorrelationID: "c", CausationID: "in", Epoch: 5},
				{MessageID: childID("in", "a", 1), CorrelationID: "c", CausationID: "in", Epoch: 5},
				{MessageID: childID("in", "a", 0), CorrelationID: "c", CausationID: "in", Epoch: 5},
				{MessageID: childID("in", "b", 0), CorrelationID: "c", CausationID: "in", Epoch: 5}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for run := range 2 { // a re-run in a new scope reproduces every id
				ids = 0
				ctx := tc.ctx()
				for i, s := range tc.sends {
					if got := outgoingMetadata(ctx, s.subject, []byte(s.body), newID); got != tc.want[i] {
						t.Errorf("run %d, send %d: got %+v, want %+v", run, i, got, tc.want[i])
					}
				}
			}
		})
	}
	if childID("in", "a", 0) == childID("in", "a", 1) || childID("in", "a", 0) == childID("in", "b", 0) {
		t.Error("derived ids collide")
	}
}

func TestRouteNames(t *testing.T) {
	tests := []struct {
		name    string
		route   string
		subject string // empty: invalid
	}{
		{"one token", "charge", "catga.cmd.charge"},
		{"dotted", "payment.charge-v2", "catga.cmd.payment.charge-v2"},
		{"empty", "", ""},
		{"wildcard", "payment.*", ""},
		{"tail wildcard", "payment.>", ""},
		{"empty token", "payment..charge", ""},
		{"leading dot", ".charge", ""},
		{"space", "payment charge", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRoute[Msg, Msg](tc.route)
			err := r.Validate()
			if tc.subject == "" {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("Validate(%q) = %v, want ErrConfig", tc.route, err)
				}
				return
			}
			if err != nil || r.Subject() != tc.subject {
				t.Fatalf("route %q: subject %q, %v; want %q", tc.route, r.Subject(), err, tc.subject)
			}
		})
	}
	topic := NewTopic[Msg]("order.placed")
	if topic.Subject() != "catga.evt.order.placed" || topic.BroadcastSubject() != "catga.bcast.order.placed" {
		t.Errorf("topic subjects %q, %q", topic.Subject(), topic.BroadcastSubject())
	}
}

func TestJSONCodec(t *testing.T) {
	type v struct {
		A int `json:"a"`
	}
	tests := []struct {
		name    string
		codec   JSON
		data    string
		wantErr bool
	}{
		{"valid", JSON{}, `{"a":1}`, false},
		{"unknown field allowed", JSON{}, `{"a":1,"b":2}`, false},
		{"unknown field rejected", JSON{DisallowUnknownFields: true}, `{"a":1,"b":2}`, true},
		{"trailing data rejected", JSON{DisallowUnknownFields: true}, `{"a":1} {}`, true},
		{"trailing data rejected (lenient)", JSON{}, `{"a":1} {}`, true},
		{"malformed", JSON{}, `{"a":`, true},
		{"trailing garbage", JSON{}, `{"a":1}x`, true},
		{"trailing space allowed", JSON{}, "{\"a\":1} \n", false},
		{"case-insensitive field", JSON{DisallowUnknownFields: true}, `{"A":1}`, false},
		{"wrong type", JSON{}, `{"a":"1"}`, true},
		{"empty", JSON{}, ``, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var x v
			if err := tc.codec.Unmarshal([]byte(tc.data), &x); (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestDeadlineCtx(t *testing.T) {
	d := time.Now().Add(30 * time.Millisecond)
	c := withDeadline(context.Background(), d)
	defer c.release()
	if got, ok := c.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline = %v %v", got, ok)
	}
	if c.Err() != nil {
		t.Fatalf("Err before deadline = %v", c.Err())
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done never closed")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Errorf("Err = %v, want DeadlineExceeded", c.Err())
	}
	late := withDeadline(context.Background(), time.Now().Add(-time.Second))
	if !errors.Is(late.Err(), context.DeadlineExceeded) {
		t.Errorf("Err of past deadline without Done = %v", late.Err())
	}
	parent, cancel := context.WithCancel(context.Background())
	child := withDeadline(parent, time.Now().Add(time.Hour))
	defer child.release()
	cancel()
	if !errors.Is(child.Err(), context.Canceled) {
		t.Errorf("parent cancel not seen: %v", child.Err())
	}
}
