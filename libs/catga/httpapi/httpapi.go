package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/transport"
)

// ErrNotFound is the sentinel a handler wraps (or returns) for a resource
// that does not exist: [Handler] answers 404.
var ErrNotFound = errors.New("catga: not found")

// Error is an HTTP error with its JSON body:
//
//	{"error":{"code":"unknown_field","message":"...","field":"items"}}
//
// Code is stable and machine-readable; Message is for people; Field names
// the offending request field (JSON path, e.g. "items[0].quantity") when
// there is one.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s: %s: %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Codes of the errors this package makes.
const (
	CodeMalformed    = "malformed_json"  // not JSON, or JSON of the wrong shape
	CodeUnknownField = "unknown_field"   // a field the request type does not have
	CodeInvalidType  = "invalid_type"    // a field of the wrong JSON type
	CodeEmptyBody    = "empty_body"      // no body where one is required
	CodeTooLarge     = "body_too_large"  // over the handler's size limit
	CodeInvalid      = "invalid_request" // a field's value is not acceptable
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeUnavailable  = "unavailable"
	CodeInternal     = "internal"
)

// BadRequest returns a 400 error.
func BadRequest(code, field, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Field: field, Message: message}
}

// Invalid returns a 422 error: the request is well-formed but field's
// value is not acceptable (a zero quantity, a negative amount).
func Invalid(field, message string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Field: field, Message: message}
}

// NotFound returns a 404 error.
func NotFound(message string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: message}
}

// Validator is implemented by request types that check themselves;
// [Decode] calls it. Return an [*Error] (say, from [Invalid]) to name the
// field; any other error becomes a 422 without one.
type Validator interface {
	Validate() error
}

// Decode reads r's body as one JSON value of type T, at most maxBytes
// long, and validates it when T implements [Validator]. The errors are
// [*Error]s ready for [Handler]: malformed JSON, trailing data, a field T
// does not have (named), a field of the wrong type (named) and an empty
// body are 400; a body over maxBytes is 413; a failed validation is 422.
func Decode[T any](r *http.Request, maxBytes int64) (T, error) {
	var v T
	if r.Body == nil {
		return v, BadRequest(CodeEmptyBody, "", "request body is empty")
	}
	body := http.MaxBytesReader(nil, r.Body, maxBytes)
	defer func() { _ = body.Close() }()
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err, maxBytes)
	}
	// One value only: "{}{}" or "{} x" is a malformed request, not a
	// request and some noise.
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return v, decodeError(err, maxBytes)
		}
		return v, BadRequest(CodeMalformed, "", "request body must hold a single JSON value")
	}
	if val, ok := any(&v).(Validator); ok {
		if err := val.Validate(); err != nil {
			return v, invalid(err)
		}
	}
	return v, nil
}

func invalid(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Message: err.Error()}
}

// decodeError turns encoding/json's errors into [*Error]s.
func decodeError(err error, maxBytes int64) *Error {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("request body is larger than %d bytes", maxBytes)}
	case errors.Is(err, io.EOF):
		return BadRequest(CodeEmptyBody, "", "request body is empty")
	case errors.As(err, &syntax):
		return BadRequest(CodeMalformed, "", fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, syntax))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest(CodeMalformed, "", "malformed JSON: unexpected end of body")
	case errors.As(err, &typ):
		return BadRequest(CodeInvalidType, typ.Field, fmt.Sprintf("%s must be a JSON %s, not %s", fieldName(typ.Field), typ.Type.Kind(), typ.Value))
	}
	// encoding/json has no error type for an unknown field; its message is
	// `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return BadRequest(CodeUnknownField, name, fmt.Sprintf("unknown field %q", name))
	}
	return BadRequest(CodeMalformed, "", "malformed JSON: "+err.Error())
}

func fieldName(f string) string {
	if f == "" {
		return "the body"
	}
	return f
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes err's JSON body with its status.
func WriteError(w http.ResponseWriter, err *Error) {
	WriteJSON(w, err.Status, struct {
		Error *Error `json:"error"`
	}{err})
}

// HandlerOption configures [Handler].
type HandlerOption func(*handlerConfig)

type handlerConfig struct {
	log       *slog.Logger
	rejection func(code string) int
}

// WithLogger logs the errors answered 500 (default: slog.Default()).
func WithLogger(l *slog.Logger) HandlerOption { return func(c *handlerConfig) { c.log = l } }

// WithRejectionStatus chooses the status of a domain rejection by its
// code (default: 409 for every code). Return 422 for rejections of the
// request's content, 409 for those of the current state (insufficient
// funds, out of stock).
func WithRejectionStatus(f func(code string) int) HandlerOption {
	return func(c *handlerConfig) { c.rejection = f }
}

// Handler adapts a handler that returns an error. A nil error means fn
// wrote the response. Otherwise the response is the error's JSON body:
//   - an [*Error] with its own status;
//   - a domain rejection (catga.RejectionError): 409, or the status
//     [WithRejectionStatus] chooses, with the rejection's code and reason;
//   - a failed Validate of a mediator request (mediator.ErrInvalid): 422;
//   - [ErrNotFound] or sagastore.ErrNotFound: 404;
//   - an event store version conflict left after the aggregate's retries: 409;
//   - no responder, a timeout or a busy peer on the transport: 503,
//     logged;
//   - anything else, a panic included: 500 with a generic message, the error logged with the
//     request's context (so with its trace id).
func Handler(fn func(w http.ResponseWriter, r *http.Request) error, opts ...HandlerOption) http.Handler {
	cfg := handlerConfig{rejection: func(string) int { return http.StatusConflict }}
	for _, o := range opts {
		o(&cfg)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := safeServe(fn, w, r)
		if err == nil {
			return
		}
		he := cfg.toError(err)
		if he.Status >= 500 {
			log := cfg.log
			if log == nil {
				log = slog.Default()
			}
			log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		WriteError(w, he)
	})
}

// safeServe turns a panic of fn into an error.
func safeServe(fn func(w http.ResponseWriter, r *http.Request) error, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) { // net/http.Server handles this one itself
				panic(p)
			}
			err = fmt.Errorf("catga: httpapi: handler panicked: %v", p)
		}
	}()
	return fn(w, r)
}

// toError maps err to the error the client sees.
func (c handlerConfig) toError(err error) *Error {
	var (
		he  *Error
		rej *catga.RejectionError
		inv *mediator.ValidationError
	)
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &rej):
		return &Error{Status: c.rejection(rej.Code), Code: rej.Code, Message: rej.Reason}
	case errors.As(err, &inv):
		return invalid(inv.Err)
	case errors.Is(err, ErrNotFound), errors.Is(err, sagastore.ErrNotFound):
		return NotFound(strings.TrimPrefix(err.Error(), "catga: "))
	case errors.Is(err, eventstore.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "concurrent update; try again"}
	case errors.Is(err, transport.ErrNoResponders), errors.Is(err, transport.ErrTimeout), errors.Is(err, transport.ErrBusy):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "a service this request needs is unavailable; try again"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error; see the service's logs"}
}
