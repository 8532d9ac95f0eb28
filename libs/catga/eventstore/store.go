package eventstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
)

// Expected versions with a special meaning. Any other expected version n >= 1
// means "the stream's last event has version n".
const (
	// Any appends whatever the stream's version is.
	Any int64 = -1
	// NoStream requires the stream to have no events yet.
	NoStream int64 = 0
)

// Event is an event to append.
type Event struct {
	// ID identifies the event everywhere: it is the outbox message's
	// Nats-Msg-Id, so JetStream drops a republished copy. Empty means a new
	// UUIDv7. Set it to something derived from the command for idempotent
	// retries.
	ID string
	// Data is a value of a type registered in the store's [Registry].
	Data any
	// Metadata is stored with the event and published with it as
	// "Catga-Meta-<key>" headers: a tenant, the acting user, and the like.
	Metadata map[string]string
}

// Record is a stored event.
type Record struct {
	ID       string
	StreamID string
	Version  int64 // 1 for the stream's first event
	Position int64 // global insertion order across streams; see Store.ReadAll
	// Tx is the feed's commit-order key (see [Checkpoint]), set by
	// [Feed.ReadFeed]; 0 elsewhere.
	Tx         uint64
	Type       string
	Data       []byte // JSON as stored
	Event      any    // Data decoded; nil where a method says it does not decode
	RecordedAt time.Time
	// CorrelationID and CausationID are taken from the appending context's
	// [catga.Metadata]; the relay publishes them as headers.
	CorrelationID string
	CausationID   string
	// Trace is the W3C trace context (traceparent, tracestate) of the
	// appending context, when a propagator is installed; the relay puts it
	// back into the published message's headers, so a trace crosses the
	// outbox.
	Trace map[string]string
	// Metadata is the appended [Event]'s metadata.
	Metadata map[string]string
}

// Checkpoint returns the record's place in the feed it was read from.
func (r Record) Checkpoint() Checkpoint { return Checkpoint{Tx: r.Tx, Position: r.Position} }

// AppendResult describes a successful append.
type AppendResult struct {
	// Version is the stream's version after the append: the expected version
	// for the next append.
	Version int64
	// Records are the appended events as stored, Event decoded from the
	// stored data as Load would return it (a value, never the pointer that
	// was appended).
	Records []Record
}

// Store is an event store.
//
// Contract:
//   - Append writes events atomically as versions expected+1.. of the stream,
//     and only if the stream is at expectedVersion ([NoStream] for a new
//     stream, [Any] to skip the check); otherwise it writes nothing and
//     returns a [*ConflictError]. Of concurrent appends with the same
//     expected version exactly one succeeds. Every appended event is also
//     written to the outbox in the same transaction, and relays are woken
//     once it commits.
//   - Load returns the stream's events with version > afterVersion, in
//     version order, decoded; an empty stream is not an error. A stored
//     event that does not decode fails the call with a [*DecodeError].
//   - ReadAll returns up to limit events with position > afterPosition, in
//     position order, decoded. Positions are assigned at insert, so a reader
//     tailing the log may see a lower position commit after a higher one:
//     ReadAll pages through history; to tail the log use a [Feed] (or a
//     [Subscription] over it) or the outbox.
//   - AppendMulti appends to several streams in one transaction, each part
//     checked against its own expected version as Append checks it: all
//     parts are written, or none (a [*ConflictError] names the first stream,
//     in stream id order, that was not at its expected version). Each
//     stream may appear once. Outbox entries and the inbox record (from the
//     options) are written as for Append, in the same transaction. Streams
//     are locked in stream id order, so concurrent multi-appends over
//     overlapping streams never deadlock. Readers see all the parts or none
//     of them. Results are in the order of appends.
type Store interface {
	Append(ctx context.Context, streamID string, expectedVersion int64, events []Event, opts ...AppendOption) (AppendResult, error)
	AppendMulti(ctx context.Context, appends []StreamAppend, opts ...AppendOption) ([]AppendResult, error)
	Load(ctx context.Context, streamID string, afterVersion int64) ([]Record, error)
	ReadAll(ctx context.Context, afterPosition int64, limit int) ([]Record, error)
}

// StreamDeleter deletes streams.
//
// Contract: DeleteStream marks the stream deleted (a tombstone) if it is at
// expectedVersion ([Any]: whatever it is; [NoStream]: it has no events,
// which reserves the id), else it returns a [*ConflictError]. A deleted
// stream refuses appends and loads with [ErrStreamDeleted] (permanent), and
// its snapshot is removed; its events stay in ReadAll, the feed and the
// outbox, since the log is immutable and readers must see what happened.
// Deleting a deleted stream returns ErrStreamDeleted.
type StreamDeleter interface {
	DeleteStream(ctx context.Context, streamID string, expectedVersion int64) error
}

// Snapshot is an aggregate's state at a stream version.
type Snapshot struct {
	StreamID string
	Version  int64
	State    any // a value of a type registered in the store's Registry
	// SchemaVersion is the aggregate's snapshot schema version when it was
	// taken (see [WithSnapshotVersion]); loads ignore other versions.
	SchemaVersion int
}

// SnapshotStore keeps the latest snapshot per stream.
//
// Contract: SaveSnapshot replaces the stream's snapshot unless the stored one
// has a higher version (a different SchemaVersion always replaces it);
// LoadSnapshot returns the latest one (State decoded, SchemaVersion as
// saved) or [ErrNoSnapshot], and a [*DecodeError] if it does not decode.
// DeleteSnapshot removes it (none is not an error).
type SnapshotStore interface {
	SaveSnapshot(ctx context.Context, s Snapshot) error
	LoadSnapshot(ctx context.Context, streamID string) (Snapshot, error)
	DeleteSnapshot(ctx context.Context, streamID string) error
}

// AppendOption adjusts one append.
type AppendOption func(*AppendOptions)

// AppendOptions is the resolved form of the options, for implementations.
type AppendOptions struct {
	// InboxConsumer and InboxMessageID, when set, make the append also record
	// (consumer, message id) in the inbox; if it is already there the append
	// writes nothing and returns inbox.ErrDuplicate.
	InboxConsumer  string
	InboxMessageID string
}

// WithInbox records (consumer, messageID) in the inbox in the append's
// transaction, so a redelivered message cannot append twice.
func WithInbox(consumer, messageID string) AppendOption {
	return func(o *AppendOptions) { o.InboxConsumer, o.InboxMessageID = consumer, messageID }
}

// ResolveAppendOptions applies opts.
func ResolveAppendOptions(opts []AppendOption) AppendOptions {
	var o AppendOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Prepare validates an append and encodes its events into records with
// versions expectedVersion+1.. (when expectedVersion is [Any], versions are
// relative to 0 and the caller shifts them). It is the shared front half of
// every implementation's Append.
func Prepare(ctx context.Context, reg *Registry, streamID string, expectedVersion int64, events []Event) ([]Record, error) {
	if streamID == "" {
		return nil, fmt.Errorf("%w: empty stream id", ErrInvalidArgument)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: no events to append to %q", ErrInvalidArgument, streamID)
	}
	if expectedVersion < Any {
		return nil, fmt.Errorf("%w: expected version %d", ErrInvalidArgument, expectedVersion)
	}
	md, _ := catga.MetadataFrom(ctx)
	trace := traceOf(ctx)
	base := max(expectedVersion, 0)
	recs := make([]Record, len(events))
	for i, ev := range events {
		name, data, err := reg.Encode(ev.Data)
		if err != nil {
			return nil, catga.Permanent(err)
		}
		// The record carries the event as it will be read back, so that
		// folding it now folds what a replay will.
		decoded, err := reg.Decode(name, data)
		if err != nil {
			return nil, catga.Permanent(fmt.Errorf("catga: eventstore: %q does not decode from its own encoding: %w", name, err))
		}
		id := ev.ID
		if id == "" {
			u, err := uuid.NewV7()
			if err != nil {
				return nil, fmt.Errorf("catga: eventstore: event id: %w", err)
			}
			id = u.String()
		}
		recs[i] = Record{
			ID: id, StreamID: streamID, Version: base + int64(i) + 1,
			Type: name, Data: data, Event: decoded,
			CorrelationID: md.CorrelationID, CausationID: md.MessageID, Trace: trace, Metadata: ev.Metadata,
		}
	}
	return recs, nil
}

// DecodeRecord fills rec.Event from rec.Type and rec.Data, returning a
// [*DecodeError] naming the stream and version on failure.
func DecodeRecord(reg *Registry, rec *Record) error {
	v, err := reg.Decode(rec.Type, rec.Data)
	if err != nil {
		return &DecodeError{StreamID: rec.StreamID, Version: rec.Version, Type: rec.Type, Err: err}
	}
	rec.Event = v
	return nil
}
