package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
)

// Header keys. They are case-sensitive on the wire.
const (
	HeaderMsgID          = "Catga-Msg-Id"
	HeaderCorrelationID  = "Catga-Correlation-Id"
	HeaderCausationID    = "Catga-Causation-Id"
	HeaderIdempotencyKey = "Catga-Idempotency-Key"
	HeaderEpoch          = "Catga-Epoch"
	// HeaderTimeout is the time left to the sender's deadline when it sent
	// the message, in nanoseconds: relative, so that the receiver's clock
	// need not agree with the sender's. The receiver's deadline is its
	// receive time plus this.
	HeaderTimeout     = "Catga-Timeout"
	HeaderContentType = "Content-Type"
	HeaderType        = "Catga-Type"
	HeaderStatus      = "Catga-Status"
	HeaderErrorCode   = "Catga-Error-Code"
	HeaderError       = "Catga-Error"
	HeaderDeadReason  = "Catga-Dead-Reason"
	HeaderDeadSubject = "Catga-Dead-Subject"
	// HeaderNatsMsgID is JetStream's deduplication header.
	HeaderNatsMsgID = "Nats-Msg-Id"
)

// Status tells the caller how to read a reply.
type Status uint8

const (
	// StatusOK: the body is the encoded response.
	StatusOK Status = iota + 1
	// StatusRejected: a domain rejection (code + reason). Never retried.
	StatusRejected
	// StatusError: an infrastructure failure on the peer. Retryable.
	StatusError
	// StatusBadRequest: malformed request or a permanent failure. Not retryable.
	StatusBadRequest
	// StatusBusy: the message id is being handled elsewhere. Retryable.
	StatusBusy
)

var statusNames = [...]string{StatusOK: "ok", StatusRejected: "rejected", StatusError: "error", StatusBadRequest: "bad-request", StatusBusy: "busy"}

func (s Status) String() string {
	if int(s) < len(statusNames) && statusNames[s] != "" {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// ParseStatus parses a [HeaderStatus] value.
func ParseStatus(s string) (Status, bool) {
	for i, n := range statusNames {
		if n != "" && n == s {
			return Status(i), true
		}
	}
	return 0, false
}

// RemoteError is a failure reported by the peer that handled a request.
// It matches [ErrRemote] (retryable), [ErrBadRequest] (permanent) or
// [ErrBusy] (retryable) according to Status.
type RemoteError struct {
	Subject string
	Status  Status
	Code    string // "panic" when the serving handler panicked
	Message string
}

// Is reports whether target is mediator.ErrPanic for a handler that
// panicked on the serving peer.
func (e *RemoteError) Is(target error) bool {
	return e.Code == codePanic && target == mediator.ErrPanic
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("catga: %s on %s: %s", e.Status, e.Subject, e.Message)
}

// Unwrap returns the sentinel for the status.
func (e *RemoteError) Unwrap() error {
	switch e.Status {
	case StatusBadRequest:
		return catga.Permanent(ErrBadRequest)
	case StatusBusy:
		return ErrBusy
	default:
		return ErrRemote
	}
}

// Reply is a decoded reply: a status and, for StatusOK, the response body.
type Reply struct {
	Status Status
	Code   string // rejection code
	Reason string // rejection reason or error message
	Data   []byte
}

// Err returns the caller-side error of a non-OK reply, nil for OK.
func (r Reply) Err(subject string) error {
	switch r.Status {
	case StatusOK:
		return nil
	case StatusRejected:
		return &catga.RejectionError{Code: r.Code, Reason: r.Reason}
	case StatusBadRequest, StatusBusy, StatusError:
		return &RemoteError{Subject: subject, Status: r.Status, Code: r.Code, Message: r.Reason}
	default:
		return &RemoteError{Subject: subject, Status: StatusBadRequest, Message: "unknown reply status " + r.Status.String()}
	}
}

// ReplyFromError classifies a handler error for the wire. What an
// infrastructure error or a panic says stays on the serving peer (it may
// name hosts, queries or hold a stack): the caller learns the status only.
// Rejections and permanent errors keep their text, which is meant for the
// caller.
func ReplyFromError(err error) Reply {
	var (
		rej    *catga.RejectionError
		remote *RemoteError
	)
	switch {
	case err == nil:
		return Reply{Status: StatusOK}
	case errors.As(err, &remote) && remote.Status == StatusBusy:
		return Reply{Status: StatusBusy, Reason: err.Error()}
	case IsPanic(err):
		return panicReply()
	case errors.As(err, &rej):
		return Reply{Status: StatusRejected, Code: rej.Code, Reason: rej.Reason}
	case catga.IsRejection(err):
		return Reply{Status: StatusRejected, Code: "rejected", Reason: err.Error()}
	case !catga.IsRetryable(err):
		return Reply{Status: StatusBadRequest, Reason: err.Error()}
	default:
		return Reply{Status: StatusError, Reason: errRemoteReason}
	}
}

// errRemoteReason is the whole of what a caller learns about an
// infrastructure failure of the handler; the serving peer logs the error.
const errRemoteReason = "handler failed (see the serving peer's log)"

// Msg turns the reply into a wire message. A plain OK reply has no
// headers at all (ReplyFromMsg reads that as OK): the common case then
// costs no header encoding or parsing on either side.
func (r Reply) Msg() *Msg {
	if r.Status == StatusOK && r.Code == "" && r.Reason == "" {
		return &Msg{Data: r.Data}
	}
	h := Header{HeaderStatus: {r.Status.String()}}
	if r.Code != "" {
		h[HeaderErrorCode] = []string{r.Code}
	}
	if r.Reason != "" {
		h[HeaderError] = []string{r.Reason}
	}
	return &Msg{Header: h, Data: r.Data}
}

// ReplyFromMsg reads a reply message. A reply without a status header is
// treated as OK, so that plain NATS responders can answer; an unknown status
// is an error.
func ReplyFromMsg(m *Msg) (Reply, error) {
	s := m.Header.Get(HeaderStatus)
	if s == "" {
		return Reply{Status: StatusOK, Data: m.Data}, nil
	}
	st, ok := ParseStatus(s)
	if !ok {
		return Reply{}, fmt.Errorf("%w: unknown reply status %q", ErrDecode, s)
	}
	return Reply{Status: st, Code: m.Header.Get(HeaderErrorCode), Reason: m.Header.Get(HeaderError), Data: m.Data}, nil
}

// MarshalBinary encodes the reply for an idempotency cache:
// status byte, uvarint-prefixed code and reason, then the body.
func (r Reply) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(r.Code)+len(r.Reason)+len(r.Data))
	b = append(b, byte(r.Status))
	b = binary.AppendUvarint(b, uint64(len(r.Code)))
	b = append(b, r.Code...)
	b = binary.AppendUvarint(b, uint64(len(r.Reason)))
	b = append(b, r.Reason...)
	return append(b, r.Data...), nil
}

// UnmarshalBinary decodes what MarshalBinary produced. It never panics on
// arbitrary input.
func (r *Reply) UnmarshalBinary(b []byte) error {
	if len(b) < 1 {
		return fmt.Errorf("%w: empty cached reply", ErrDecode)
	}
	st := Status(b[0])
	if st < StatusOK || st > StatusBusy {
		return fmt.Errorf("%w: cached reply status %d", ErrDecode, b[0])
	}
	b = b[1:]
	read := func() (string, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", fmt.Errorf("%w: truncated cached reply", ErrDecode)
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, nil
	}
	code, err := read()
	if err != nil {
		return err
	}
	reason, err := read()
	if err != nil {
		return err
	}
	*r = Reply{Status: st, Code: code, Reason: reason, Data: b}
	return nil
}

// WriteMetadata writes md and the time left to the deadline of ctx (if
// any) into h.
func WriteMetadata(ctx context.Context, h Header, md catga.Metadata) {
	writeMetadata(ctx, h, md, nil)
}

// writeMetadata is WriteMetadata with every value, plus extra (key, value
// pairs), in one allocation instead of one per header. Each value gets a
// capacity-1 slice of it, so an append to one header cannot overwrite
// another.
func writeMetadata(ctx context.Context, h Header, md catga.Metadata, extra []string) {
	vals := make([]string, 0, 6+len(extra)/2)
	set := func(k, v string) {
		if v != "" {
			vals = append(vals, v)
			h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		set(extra[i], extra[i+1])
	}
	set(HeaderMsgID, md.MessageID)
	set(HeaderCorrelationID, md.CorrelationID)
	set(HeaderCausationID, md.CausationID)
	set(HeaderIdempotencyKey, md.IdempotencyKey)
	if md.Epoch != 0 {
		set(HeaderEpoch, strconv.FormatUint(md.Epoch, 10))
	}
	if d, ok := ctx.Deadline(); ok {
		set(HeaderTimeout, strconv.FormatInt(int64(max(time.Until(d), 0)), 10))
	}
}

// ReadMetadata reads what WriteMetadata wrote; the deadline is now plus
// the time left the sender wrote. A malformed epoch or timeout is an error
// wrapping [ErrDecode]; it never panics.
func ReadMetadata(h Header) (md catga.Metadata, deadline time.Time, err error) {
	md = catga.Metadata{
		MessageID:      h.Get(HeaderMsgID),
		CorrelationID:  h.Get(HeaderCorrelationID),
		CausationID:    h.Get(HeaderCausationID),
		IdempotencyKey: h.Get(HeaderIdempotencyKey),
	}
	if s := h.Get(HeaderEpoch); s != "" {
		if md.Epoch, err = strconv.ParseUint(s, 10, 64); err != nil {
			return md, deadline, fmt.Errorf("%w: epoch header %q", ErrDecode, s)
		}
	}
	if s := h.Get(HeaderTimeout); s != "" {
		ns, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil || ns < 0 {
			return md, deadline, fmt.Errorf("%w: timeout header %q", ErrDecode, s)
		}
		deadline = time.Now().Add(time.Duration(ns))
	}
	return md, deadline, nil
}

type inboundKey struct{}

// inbound is the message a handler is handling, as its context knows it.
type inbound struct {
	id     string
	header Header
}

// outgoingMetadata returns the metadata of a message with body sent to
// subject from ctx.
//
// When ctx carries the metadata of a message this peer is handling, the new
// message is its consequence: the same correlation, the handled message as
// cause, and an id derived from the handled message's id, the subject and
// the send's ordinal (see catga.SendOrdinal). A handler that runs again for
// the same message (a redelivery, a retry that reached another peer) sends
// the same ids, so its messages are deduplicated downstream too.
//
// Metadata the caller set itself (a saga step) is kept for its first
// message to each subject, so its message id survives the caller's own
// retries; later, different messages to the same subject get derived ids
// and idempotency keys, so that they are not taken for duplicates.
func outgoingMetadata(ctx context.Context, subject string, body []byte, newID func() string) catga.Metadata {
	md, ok := catga.MetadataFrom(ctx)
	if !ok {
		id := newID()
		return catga.Metadata{MessageID: id, CorrelationID: id}
	}
	n, _ := catga.SendOrdinal(ctx, subject, maphash.Bytes(digestSeed, body))
	if in, _ := ctx.Value(inboundKey{}).(*inbound); in != nil && in.id != "" && in.id == md.MessageID {
		md = catga.Metadata{MessageID: childID(in.id, subject, n), CorrelationID: md.CorrelationID, CausationID: in.id, Epoch: md.Epoch}
	} else if n > 0 {
		if md.MessageID != "" {
			md.MessageID = childID(md.MessageID, subject, n)
		}
		if md.IdempotencyKey != "" {
			md.IdempotencyKey += "#" + strconv.Itoa(n)
		}
	}
	if md.MessageID == "" {
		md.MessageID = newID()
	}
	if md.CorrelationID == "" {
		md.CorrelationID = md.MessageID
	}
	return md
}

// digestSeed only has to be stable within the process: digests are
// compared within one catga.SendOrdinal scope.
var digestSeed = maphash.MakeSeed()

// childNamespace is the UUIDv5 namespace of derived message ids.
var childNamespace = uuid.MustParse("6f1c6c0e-54a5-4c2e-9a8e-0e6b8f7d3c21")

// childID derives the id of the n-th message to subject caused by message
// parent: a name-based (version 5) UUID, the same on every peer and run.
func childID(parent, subject string, n int) string {
	b := make([]byte, 0, len(parent)+len(subject)+8)
	b = append(append(append(b, parent...), 0), subject...)
	b = strconv.AppendInt(append(b, 0), int64(n), 10)
	return uuid.NewSHA1(childNamespace, b).String()
}

// inboundContext restores md into ctx and remembers it, with its headers
// h (see HeadersFrom), as the message being handled.
func inboundContext(ctx context.Context, md catga.Metadata, h Header) context.Context {
	ctx = catga.WithMetadata(ctx, md)
	return context.WithValue(ctx, inboundKey{}, &inbound{id: md.MessageID, header: h})
}
