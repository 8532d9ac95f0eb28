package catga

import (
	"context"
	"sync"
)

// Metadata describes one message as it travels between peers. The transport
// writes it into message headers and restores it into the handler's context,
// so a handler (or the saga engine) reads it with [MetadataFrom] wherever the
// message came from.
type Metadata struct {
	// MessageID identifies this message. Retries of one logical send keep it,
	// which is what lets receivers deduplicate.
	MessageID string
	// CorrelationID ties together every message of one business flow
	// (an order, a saga).
	CorrelationID string
	// CausationID is the MessageID of the message that caused this one.
	CausationID string
	// IdempotencyKey, when set, is the key a participant applies the message
	// under exactly once; it defaults to MessageID. Sagas set it to
	// saga id + step + attempt epoch.
	IdempotencyKey string
	// Epoch is the fencing epoch of the saga owner that sent the message;
	// participants reject an epoch older than one they have seen. Zero means
	// unfenced.
	Epoch uint64
}

type metadataKey struct{}

// scope is what WithMetadata puts in a context: the metadata and the log
// of the messages sent under it (see [SendOrdinal]).
type scope struct {
	md Metadata

	mu    sync.Mutex
	sends map[string]*sendLog
}

// sendLog is what one scope sent to one subject.
type sendLog struct {
	digests []uint64 // of the first maxRemembered bodies, in order
	n       int      // bodies sent, remembered or not
}

// maxRemembered bounds the memory of a scope that lives long (a worker's
// root context) and sends many messages: past it, a body gets a fresh
// ordinal even if it was sent before.
const maxRemembered = 1024

// WithMetadata returns ctx carrying md. It opens a new scope for
// [SendOrdinal]: call it once per attempt of the work whose messages it
// covers.
func WithMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, metadataKey{}, &scope{md: md})
}

// MetadataFrom returns the metadata carried by ctx, if any.
func MetadataFrom(ctx context.Context) (Metadata, bool) {
	s, ok := ctx.Value(metadataKey{}).(*scope)
	if !ok {
		return Metadata{}, false
	}
	return s.md, true
}

// SendOrdinal numbers the messages sent to subject under the metadata of
// ctx, from 0, so that the transport can give each its own id derived from
// the metadata's: two different commands or events sent by one handler (or
// saga step) get different ids, and a re-run of the handler, which sends
// the same messages in the same order, reproduces them. digest identifies
// the body: sending the same body again in the same scope (a retry) gets
// the same number back, for the first 1024 bodies sent to a subject (a
// long-lived scope must not grow without bound). ok is false when ctx
// carries no metadata.
func SendOrdinal(ctx context.Context, subject string, digest uint64) (n int, ok bool) {
	s, ok := ctx.Value(metadataKey{}).(*scope)
	if !ok {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sends == nil {
		s.sends = map[string]*sendLog{}
	}
	l := s.sends[subject]
	if l == nil {
		l = &sendLog{}
		s.sends[subject] = l
	}
	for i, d := range l.digests {
		if d == digest {
			return i, true
		}
	}
	if len(l.digests) < maxRemembered {
		l.digests = append(l.digests, digest)
	}
	l.n++
	return l.n - 1, true
}

// Key returns the idempotency key of the message: IdempotencyKey when set,
// otherwise MessageID.
func (md Metadata) Key() string {
	if md.IdempotencyKey != "" {
		return md.IdempotencyKey
	}
	return md.MessageID
}
