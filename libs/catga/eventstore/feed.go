package eventstore

import (
	"context"
	"strconv"
)

// Checkpoint is a place in a store's feed: the feed is ordered by Tx, then
// Position. The zero Checkpoint is the start of the feed.
type Checkpoint struct {
	// Tx orders events by the transaction that appended them where
	// positions alone do not follow commit order (PostgreSQL: the
	// transaction id, xid8). It is 0 where they do (SQLite writes one
	// transaction at a time).
	Tx       uint64
	Position int64
}

// Less reports whether c comes before d in the feed.
func (c Checkpoint) Less(d Checkpoint) bool {
	return c.Tx < d.Tx || c.Tx == d.Tx && c.Position < d.Position
}

func (c Checkpoint) String() string {
	return strconv.FormatUint(c.Tx, 10) + "/" + strconv.FormatInt(c.Position, 10)
}

// Feed is a read of every event that is safe to tail.
//
// Contract: ReadFeed returns up to limit events after `after`, in feed
// order, decoded (a [*DecodeError] otherwise), each with its Checkpoint in
// Record.Tx and Record.Position. It returns only events that no later commit
// can precede: an event whose transaction commits after the call sorts
// after everything the call returned. So a reader that continues from the
// last event it got sees every event exactly once, in the same order as
// every other reader. (ReadAll by position does not promise this: a
// transaction that took a lower position may commit after a higher one was
// read.) A transaction that stays open holds the feed back at its events
// until it ends.
type Feed interface {
	ReadFeed(ctx context.Context, after Checkpoint, limit int) ([]Record, error)
}

// Checkpoints keeps durable checkpoints by name, for [Subscription].
//
// Contract: LoadCheckpoint returns the checkpoint last saved under name, or
// the zero Checkpoint if none was. SaveCheckpoint replaces it.
type Checkpoints interface {
	LoadCheckpoint(ctx context.Context, name string) (Checkpoint, error)
	SaveCheckpoint(ctx context.Context, name string, cp Checkpoint) error
}
