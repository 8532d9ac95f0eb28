package outbox

import (
	"strconv"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/transport"
)

// HeaderMetadataPrefix prefixes the header of each key of an event's
// metadata (eventstore.Event.Metadata).
const HeaderMetadataPrefix = "Catga-Meta-"

// message is rec as the transport publishes an event: the stored JSON as the
// body, the event id as both the message id and the deduplication id, the
// metadata the transport's consumers read, and the outbox's own headers
// (type, stream, version, position), the event's metadata, and the
// appending request's trace.
func message(subject string, rec *eventstore.Record) *transport.Msg {
	correlation := rec.CorrelationID
	if correlation == "" {
		correlation = rec.ID // as the transport does for a message that starts a conversation
	}
	h := make(transport.Header, 10+len(rec.Trace)+len(rec.Metadata))
	h.Set(transport.HeaderContentType, "application/json")
	h.Set(transport.HeaderNatsMsgID, rec.ID)
	h.Set(transport.HeaderMsgID, rec.ID)
	h.Set(transport.HeaderCorrelationID, correlation)
	if rec.CausationID != "" {
		h.Set(transport.HeaderCausationID, rec.CausationID)
	}
	h.Set(inbox.HeaderEventType, rec.Type)
	h.Set(inbox.HeaderStream, rec.StreamID)
	h.Set(inbox.HeaderVersion, strconv.FormatInt(rec.Version, 10))
	h.Set(inbox.HeaderPosition, strconv.FormatInt(rec.Position, 10))
	for k, v := range rec.Metadata {
		h.Set(HeaderMetadataPrefix+k, v)
	}
	for k, v := range rec.Trace {
		h[k] = []string{v} // as stored: W3C keys are lower case
	}
	return &transport.Msg{Subject: subject, Header: h, Data: rec.Data}
}
