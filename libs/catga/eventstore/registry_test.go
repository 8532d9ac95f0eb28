package eventstore_test

import (
	"errors"
	"testing"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
)

type placed struct {
	OrderID string
	Total   int
}

type cancelled struct{ OrderID string }

func TestRegister(t *testing.T) {
	tests := []struct {
		name    string
		reg     func(r *eventstore.Registry) error
		wantErr bool
	}{
		{name: "same pair twice", reg: func(r *eventstore.Registry) error { return eventstore.Register[placed](r, "order.placed") }},
		{name: "name reused for another type", reg: func(r *eventstore.Registry) error { return eventstore.Register[cancelled](r, "order.placed") }, wantErr: true},
		{name: "type under a second name", reg: func(r *eventstore.Registry) error { return eventstore.Register[placed](r, "order.placed.v2") }, wantErr: true},
		{name: "empty name", reg: func(r *eventstore.Registry) error { return eventstore.Register[cancelled](r, "") }, wantErr: true},
		{name: "pointer type", reg: func(r *eventstore.Registry) error { return eventstore.Register[*cancelled](r, "order.cancelled") }, wantErr: true},
		{name: "new pair", reg: func(r *eventstore.Registry) error { return eventstore.Register[cancelled](r, "order.cancelled") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := eventstore.NewRegistry()
			eventstore.MustRegister[placed](r, "order.placed")
			err := tt.reg(r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, eventstore.ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	r := eventstore.NewRegistry()
	eventstore.MustRegister[placed](r, "order.placed")
	tests := []struct {
		name     string
		value    any
		wantName string
		wantErr  error
	}{
		{name: "value", value: placed{OrderID: "o1", Total: 3}, wantName: "order.placed"},
		{name: "pointer", value: &placed{OrderID: "o2"}, wantName: "order.placed"},
		{name: "unregistered", value: cancelled{}, wantErr: eventstore.ErrUnregisteredType},
		{name: "nil", value: nil, wantErr: eventstore.ErrUnregisteredType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, data, err := r.Encode(tt.value)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if name != tt.wantName {
				t.Fatalf("name = %q", name)
			}
			v, err := r.Decode(name, data)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.value
			if p, ok := want.(*placed); ok {
				want = *p
			}
			if v != want {
				t.Fatalf("round trip = %#v, want %#v", v, want)
			}
		})
	}
	if _, err := r.Decode("order.shipped", []byte(`{}`)); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("unknown name: err = %v", err)
	}
	if _, err := r.Decode("order.placed", []byte(`{"Total":"x"}`)); !errors.Is(err, eventstore.ErrMalformedEvent) {
		t.Fatalf("malformed: err = %v", err)
	}
}

func TestErrors(t *testing.T) {
	conflict := error(&eventstore.ConflictError{StreamID: "s", Expected: 1, Actual: 2})
	decode := error(&eventstore.DecodeError{StreamID: "s", Version: 3, Type: "x", Err: eventstore.ErrUnknownEventType})
	tests := []struct {
		name      string
		err       error
		is        error
		retryable bool
		text      string
	}{
		{name: "conflict", err: conflict, is: eventstore.ErrConflict, retryable: true, text: `catga: eventstore: version conflict on stream "s": expected 1, actual 2`},
		{name: "decode", err: decode, is: eventstore.ErrUnknownEventType, retryable: false, text: `catga: eventstore: stream "s" version 3 (type "x"): catga: eventstore: unknown event type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.is) {
				t.Errorf("errors.Is(%v) = false", tt.is)
			}
			if catga.IsRetryable(tt.err) != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v", !tt.retryable, tt.retryable)
			}
			if tt.err.Error() != tt.text {
				t.Errorf("text = %q", tt.err.Error())
			}
		})
	}
}

// placedV1 is how order.placed was stored before Total existed.
type placedV1 struct {
	Order  string
	Amount int
}

func TestUpcast(t *testing.T) {
	r := eventstore.NewRegistry()
	eventstore.MustRegister[placed](r, "order.placed")
	eventstore.MustRegisterUpcast(r, "order.placed.v1", func(v placedV1) placed { return placed{OrderID: v.Order, Total: v.Amount} })
	tests := []struct {
		name    string
		stored  string
		data    string
		want    any
		wantErr error
	}{
		{name: "current", stored: "order.placed", data: `{"OrderID":"1","Total":5}`, want: placed{OrderID: "1", Total: 5}},
		{name: "old version upcast", stored: "order.placed.v1", data: `{"Order":"2","Amount":7}`, want: placed{OrderID: "2", Total: 7}},
		{name: "old version malformed", stored: "order.placed.v1", data: `{"Order":3}`, wantErr: eventstore.ErrMalformedEvent},
		{name: "unknown", stored: "order.shipped", data: `{}`, wantErr: eventstore.ErrUnknownEventType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Decode(tt.stored, []byte(tt.data))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && got != tt.want) {
				t.Fatalf("Decode = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	// New events are written under the current name only.
	if name, _, err := r.Encode(placed{}); err != nil || name != "order.placed" {
		t.Fatalf("Encode name = %q, %v", name, err)
	}
	for _, bad := range []error{
		eventstore.RegisterUpcast(r, "order.placed", func(v placedV1) placed { return placed{} }),    // a current name
		eventstore.RegisterUpcast(r, "order.placed.v1", func(v placedV1) placed { return placed{} }), // twice
		eventstore.RegisterUpcast(r, "x.v1", func(v placedV1) cancelled { return cancelled{} }),      // target not registered
		eventstore.RegisterUpcast[placedV1, placed](r, "y.v1", nil),                                  // no function
	} {
		if !errors.Is(bad, eventstore.ErrInvalidArgument) {
			t.Errorf("bad upcast registration: %v", bad)
		}
	}
}

func TestRawUnknown(t *testing.T) {
	r := eventstore.NewRegistry(eventstore.WithRawUnknown())
	eventstore.MustRegister[placed](r, "order.placed")
	got, err := r.Decode("order.shipped", []byte(`{"Carrier":"x"}`))
	raw, ok := got.(eventstore.Raw)
	if err != nil || !ok || raw.Type != "order.shipped" || string(raw.Data) != `{"Carrier":"x"}` {
		t.Fatalf("Decode unknown = %#v, %v; want a Raw", got, err)
	}
	if _, err := r.Decode("order.placed", []byte(`{"OrderID":1}`)); !errors.Is(err, eventstore.ErrMalformedEvent) {
		t.Fatalf("a known type that does not decode still fails: %v", err)
	}
}
