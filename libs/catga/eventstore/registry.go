package eventstore

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
)

// Registry maps event (and snapshot) type names, as stored, to Go types.
// Names are part of the stored format and of the published subject, so they
// must stay stable once events exist; use dotted lower case such as
// "order.placed". Payloads are stored as JSON.
//
// A Registry is safe for concurrent use. The zero value is not usable; use
// [NewRegistry].
type Registry struct {
	mu       sync.RWMutex
	byName   map[string]reflect.Type
	byType   map[reflect.Type]string
	upcaster map[string]upcaster
	raw      bool
}

// upcaster decodes a stored name that is no longer written: into from,
// then through up to a registered type.
type upcaster struct {
	from reflect.Type
	up   func(any) any
}

// RegistryOption configures a [Registry].
type RegistryOption func(*Registry)

// WithRawUnknown makes the registry decode a type name it does not know
// into a [Raw] instead of failing with [ErrUnknownEventType]: for readers
// (projections, relays of other services' events) that handle some types
// and pass over the rest.
func WithRawUnknown() RegistryOption { return func(r *Registry) { r.raw = true } }

// Raw is an event of a type the registry does not know, as stored; see
// [WithRawUnknown].
type Raw struct {
	Type string
	Data json.RawMessage
}

// NewRegistry returns an empty registry.
func NewRegistry(opts ...RegistryOption) *Registry {
	r := &Registry{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}, upcaster: map[string]upcaster{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// RegisterUpcast makes events stored under an older name (or version) read
// as a registered type: their data decodes into From, and up converts it.
// New events of the type are written under its registered name only. name
// must not be registered otherwise.
func RegisterUpcast[From, To any](r *Registry, name string, up func(From) To) error {
	from, to := reflect.TypeFor[From](), reflect.TypeFor[To]()
	if name == "" || up == nil {
		return fmt.Errorf("%w: upcast needs a name and a function", ErrInvalidArgument)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byType[to]; !ok {
		return fmt.Errorf("%w: upcast %q to %v, which is not registered", ErrInvalidArgument, name, to)
	}
	if _, ok := r.byName[name]; ok {
		return fmt.Errorf("%w: %q is a registered name, not an old one", ErrInvalidArgument, name)
	}
	if _, ok := r.upcaster[name]; ok {
		return fmt.Errorf("%w: %q already has an upcaster", ErrInvalidArgument, name)
	}
	r.upcaster[name] = upcaster{from: from, up: func(v any) any { return up(v.(From)) }}
	return nil
}

// MustRegisterUpcast is [RegisterUpcast] that panics on error.
func MustRegisterUpcast[From, To any](r *Registry, name string, up func(From) To) {
	if err := RegisterUpcast(r, name, up); err != nil {
		panic(err)
	}
}

// Register registers T under name. Registering the same pair twice is a
// no-op; reusing a name or a type for something else is an error.
func Register[T any](r *Registry, name string) error {
	t := reflect.TypeFor[T]()
	if name == "" {
		return fmt.Errorf("%w: empty event type name for %v", ErrInvalidArgument, t)
	}
	if t.Kind() == reflect.Pointer {
		return fmt.Errorf("%w: register the value type, not %v", ErrInvalidArgument, t)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byName[name]; ok && old != t {
		return fmt.Errorf("%w: event type %q already registered as %v", ErrInvalidArgument, name, old)
	}
	if old, ok := r.byType[t]; ok && old != name {
		return fmt.Errorf("%w: %v already registered as %q", ErrInvalidArgument, t, old)
	}
	r.byName[name], r.byType[t] = t, name
	return nil
}

// MustRegister is [Register] for package initialisation, where a clash is a
// programming error. It panics on error.
func MustRegister[T any](r *Registry, name string) {
	if err := Register[T](r, name); err != nil {
		panic(err)
	}
}

// Name returns the registered name of v's type (a pointer is followed).
func (r *Registry) Name(v any) (string, error) {
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	r.mu.RLock()
	name, ok := r.byType[t]
	r.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("%w: %v", ErrUnregisteredType, t)
	}
	return name, nil
}

// Encode returns v's registered name and JSON encoding.
func (r *Registry) Encode(v any) (string, []byte, error) {
	name, err := r.Name(v)
	if err != nil {
		return "", nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("catga: eventstore: encode %q: %w", name, err)
	}
	return name, data, nil
}

// Decode returns the value (not a pointer) of the type registered under
// name, decoded from data; for an upcast name, the upcast value; for an
// unknown name, a [Raw] with [WithRawUnknown]. Errors wrap
// [ErrUnknownEventType] or [ErrMalformedEvent]; store implementations wrap
// them in a [*DecodeError]. A panic in an upcaster is an ErrMalformedEvent.
func (r *Registry) Decode(name string, data []byte) (v any, err error) {
	r.mu.RLock()
	t, ok := r.byName[name]
	up, isUp := r.upcaster[name]
	raw := r.raw
	r.mu.RUnlock()
	switch {
	case ok:
		return decodeInto(t, data)
	case isUp:
		from, err := decodeInto(up.from, data)
		if err != nil {
			return nil, err
		}
		defer func() {
			if p := recover(); p != nil {
				v, err = nil, fmt.Errorf("%w: upcasting %q panicked: %v", ErrMalformedEvent, name, p)
			}
		}()
		return up.up(from), nil
	case raw:
		return Raw{Type: name, Data: json.RawMessage(data)}, nil
	}
	return nil, ErrUnknownEventType
}

func decodeInto(t reflect.Type, data []byte) (any, error) {
	p := reflect.New(t)
	if err := json.Unmarshal(data, p.Interface()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	return p.Elem().Interface(), nil
}
