package eventstore

import (
	"context"
	"time"
)

// Outbox is the store side of the transactional outbox, which the relay in
// package outbox drives. Entries are written by Append; this interface
// claims the pending ones and records what publishing them did.
//
// Contract:
//   - Claim takes pending entries (at most limit), in a transaction or lease
//     that keeps other Claim calls — in this process or on other peers — off
//     the same streams until it ends, and calls publish with them in
//     position order: for each stream a contiguous run starting at its
//     oldest pending entry, the limit cutting every stream's run short
//     rather than leaving a claimed stream out. A stream whose oldest entry is
//     held (a failure asked for a later retry) is not claimed before then,
//     so one failing stream never keeps the others waiting. Records are not
//     decoded (Event is nil).
//   - When Claim ends, the outcome's Published positions are removed, each
//     Failed entry has its attempt counted and is either held until its
//     retry time (with its stream) or, when Park is set, moved with its
//     reason to the dead-letter table, after which its stream continues
//     with the next entry. Entries not named stay pending as they were.
//     Claim returns what it changed and publish's error.
//   - Listen returns a listener that is woken after commits that add
//     entries. A listener may also wake spuriously; relays still poll as a
//     fallback, because a wake-up can be lost (another process, a dropped
//     connection).
//
// owner identifies the calling relay where an implementation leases work.
type Outbox interface {
	Claim(ctx context.Context, owner string, limit int, publish PublishFunc) (ClaimResult, error)
	Listen(ctx context.Context) (OutboxListener, error)
}

// PublishFunc publishes a claim's entries; see [Outbox].
type PublishFunc func(ctx context.Context, entries []Pending) (Outcome, error)

// Pending is an outbox entry handed to a claim's publish function.
type Pending struct {
	Record
	// Attempts counts the entry's failed publishes so far.
	Attempts int
}

// Outcome is what a publish function did with a claim.
type Outcome struct {
	Published []int64 // positions acknowledged by the broker
	Failed    []Failure
}

// Failure reports a claimed entry that could not be published.
type Failure struct {
	Position int64
	Reason   string
	// RetryAfter holds the entry, and so its stream, back this long.
	RetryAfter time.Duration
	// Park gives up on the entry: it moves to the dead-letter table with
	// Reason and its stream goes on without it.
	Park bool
}

// ClaimResult counts what one claim changed.
type ClaimResult struct {
	Claimed   int // entries handed to publish
	Published int // removed as published
	Held      int // failed, held for a retry
	Parked    int // failed for good, moved to the dead-letter table
}

// OutboxListener reports outbox commits; see [Outbox].
//
// Contract: Wait returns nil after at least one commit since the previous
// Wait returned (or since Listen), or ctx's error, or an error when the
// listener broke (then the caller closes it and listens again). Close
// releases it and must be called exactly once.
type OutboxListener interface {
	Wait(ctx context.Context) error
	Close() error
}

// OutboxInspector shows an outbox's backlog and its dead letters, for
// metrics, health checks and operators.
//
// Contract: OutboxStats counts pending entries (held ones included) and
// parked ones, and gives the oldest pending entry's commit time (zero when
// none is pending). Parked lists dead letters, oldest first. Requeue moves
// a parked entry back to the outbox with its attempts reset, so the relay
// publishes it again; requeueing a position that is not parked returns
// [ErrNotParked].
type OutboxInspector interface {
	OutboxStats(ctx context.Context) (OutboxStats, error)
	Parked(ctx context.Context, limit int) ([]ParkedEntry, error)
	Requeue(ctx context.Context, position int64) error
}

// OutboxStats is an outbox's backlog.
type OutboxStats struct {
	Pending       int64     // not yet published, held ones included
	Held          int64     // pending entries waiting for a retry after a failure
	Parked        int64     // in the dead-letter table
	OldestPending time.Time // commit time of the oldest pending entry; zero if none
}

// ParkedEntry is a dead letter of the outbox.
type ParkedEntry struct {
	Record   // not decoded (Event is nil)
	Attempts int
	Reason   string
	ParkedAt time.Time
}
