package eventstore

import "context"

// Outbox is the store side of the transactional outbox, which the relay in
// package outbox drives. Entries are written by Append; this interface
// claims, and marks as published, the pending ones.
//
// Contract:
//   - Claim takes pending entries (at most limit), in a transaction or lease
//     that keeps other Claim calls — in this process or on other peers — off
//     the same streams until it ends, and calls publish with them: for each
//     stream a contiguous run starting at its oldest pending entry, in
//     position order. Records are not decoded (Event is nil). The positions
//     publish returns are marked published (removed) when Claim ends; the
//     others stay pending. If publish returns no positions, nothing changes.
//     Claim returns how many were marked, and publish's error.
//   - Listen returns a listener that is woken after commits that add
//     entries. A listener may also wake spuriously; relays still poll as a
//     fallback, because a wake-up can be lost (another process, a dropped
//     connection).
//
// owner identifies the calling relay where an implementation leases work.
type Outbox interface {
	Claim(ctx context.Context, owner string, limit int, publish func(ctx context.Context, recs []Record) (published []int64, err error)) (int, error)
	Listen(ctx context.Context) (OutboxListener, error)
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
