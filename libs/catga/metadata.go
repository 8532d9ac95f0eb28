package catga

import "context"

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

// WithMetadata returns ctx carrying md.
func WithMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, metadataKey{}, md)
}

// MetadataFrom returns the metadata carried by ctx, if any.
func MetadataFrom(ctx context.Context) (Metadata, bool) {
	md, ok := ctx.Value(metadataKey{}).(Metadata)
	return md, ok
}

// Key returns the idempotency key of the message: IdempotencyKey when set,
// otherwise MessageID.
func (md Metadata) Key() string {
	if md.IdempotencyKey != "" {
		return md.IdempotencyKey
	}
	return md.MessageID
}
