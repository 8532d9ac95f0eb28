package inbox

import (
	"context"
	"errors"
	"time"

	"github.com/catga-go/catga/libs/catga/transport"
)

// ErrDuplicate reports a message the consumer has already processed. The
// caller should acknowledge it: its effect is already committed.
var ErrDuplicate = errors.New("catga: inbox: duplicate message")

// Inbox records processed messages in the transaction of their effect.
//
// Contract: Process begins a transaction, records (consumer, messageID) in
// it and runs effect with it, committing both together. If the pair is
// already recorded (committed by an earlier or concurrent Process) it runs no
// effect and returns [ErrDuplicate]. If effect returns an error the
// transaction rolls back, nothing is recorded, and the error is returned, so
// a redelivery tries again.
type Inbox[Tx any] interface {
	Process(ctx context.Context, consumer, messageID string, effect func(ctx context.Context, tx Tx) error) error
}

// Pruner deletes old inbox records, which otherwise accumulate forever.
//
// Contract: Prune deletes the records of messages processed before `before`
// and returns how many. A message redelivered after its record was pruned is
// applied again, so keep records longer than any message can be redelivered
// (JetStream's max deliveries × backoff, and the publisher's duplicate
// window).
type Pruner interface {
	Prune(ctx context.Context, before time.Time) (int64, error)
}

// Header names the outbox relay writes besides the transport's own
// (transport.HeaderMsgID and friends, which carry the catga.Metadata).
const (
	HeaderMsgID         = transport.HeaderNatsMsgID
	HeaderEventType     = "Catga-Event-Type"
	HeaderStream        = "Catga-Stream"
	HeaderVersion       = "Catga-Stream-Version"
	HeaderPosition      = "Catga-Position"
	HeaderCorrelationID = transport.HeaderCorrelationID
	HeaderCausationID   = transport.HeaderCausationID
)
