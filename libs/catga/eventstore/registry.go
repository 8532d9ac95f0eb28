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
	mu     sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}}
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
// name, decoded from data. Errors wrap [ErrUnknownEventType] or
// [ErrMalformedEvent]; store implementations wrap them in a [*DecodeError].
func (r *Registry) Decode(name string, data []byte) (any, error) {
	r.mu.RLock()
	t, ok := r.byName[name]
	r.mu.RUnlock()
	if !ok {
		return nil, ErrUnknownEventType
	}
	p := reflect.New(t)
	if err := json.Unmarshal(data, p.Interface()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	return p.Elem().Interface(), nil
}
