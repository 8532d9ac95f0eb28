// Package saga runs distributed transactions as sagas: ordered steps, each an
// action with an optional compensation, whose state is persisted in a
// sagastore.Store at every transition so that any peer can finish a saga
// another peer started.
//
// # Execution
//
// A saga moves step by step while Running. When a step fails (a domain
// rejection, a non-retryable error, retries exhausted or the saga deadline
// passed) the saga turns Compensating and compensates, in reverse order, the
// failed step and those before it (a compensation may thus run for an action
// that never applied: see [Step]); compensations are retried per their policy, and one that
// keeps failing moves the saga to Stuck, where an operator sees it ([Engine.List])
// and acts ([Engine.Retry], [Engine.ForceCompensate]; a tool that runs no
// saga, such as the catga CLI, uses an [Operator], which hands the saga to
// the peers' recovery). Completed and Compensated are final.
//
// No step can hold a saga forever: every attempt is bounded by the step's
// Timeout (or [WithStepTimeout]) and, for actions, by the saga deadline; an
// attempt that outlives its bound is abandoned even if the step ignores its
// context. Each attempt works on its own copy of the saga data, so what a
// failed attempt changed is discarded. A transition is adopted only once
// the store accepted it: a peer never believes a saga finished that the
// store still holds as running.
//
// # Ownership and fencing
//
// The peer executing a saga holds a lease (owner, epoch, lease expiry) in
// the record. Every write is a compare-and-set on the record version, so a
// peer that lost the lease can no longer write. Each peer's recovery loop
// claims sagas whose lease expired, bumping the epoch, and resumes them from
// the persisted state; Close releases the leases a peer holds so others take
// over at once. Removing a saga from the due index is conditional on its
// epoch (sagastore.Entry), so no peer can drop the entry of a newer owner.
//
// # Clocks
//
// Lease expiry compares two peers' clocks: the owner's, which wrote
// LeaseUntil, and the claimer's, which reads it. An owner renews its lease
// once less than half the TTL remains, checking every recovery interval
// (at most TTL/3), so on its own clock a live lease always has more than
// TTL/2 - interval left (1.5s with the defaults). Peers tolerate clock
// skew up to that margin; beyond it a peer whose clock runs ahead may take
// a live saga over early. That stays correct (the old owner is fenced out
// by the epoch: its writes fail and participants refuse it) but wastes the
// work in flight, so keep peers' clocks synchronised (NTP) well within it.
// Leases are judged by the engine, not the store, because NATS KV offers no
// server time; [WithClock] sets the clock used for them (tests of the bound
// skew it). Fence reservations in Redis are timed by the Redis server's clock.
//
// # Participants
//
// Every step call carries catga.Metadata: IdempotencyKey is
// "<saga id>/<step>/<epoch the step was first started in>" (the
// compensation's is [UndoKey] of it: "/undo", then ".<round>" after an
// operator's Retry), stable across owners so a resumed step is recognised as
// a repeat, and Epoch is the current owner's fencing epoch. The metadata
// reaches participants through the call's context; mediator.Send carries it
// over the transport, and a step calling anything else passes it on itself
// ([OpFrom] reads it).
//
// Participants use [GuardAction] and [GuardCompensation] over a [Fence]
// ([MemoryFence], redisfence.Fence shared through Redis, or saga/storefence's
// Fence in the participant's event store) to apply each key once, also when
// deliveries of it arrive concurrently (Admit reserves the key for one
// delivery; the others are told [ErrInProgress] and retry), to refuse stale
// epochs, and to refuse an action that arrives after (or instead of) its
// compensation; the rules are [Decide]'s. For exactly-once under crashes
// and failovers the effect must commit together with its fence record:
// saga/storefence's Fence.Apply does that for event-sourced participants
// (the effect's appends and the record in one database transaction), and
// redisfence.Fence.Apply for effects that are Redis writes (one MULTI/EXEC;
// the effect only queues writes, and may be called more than once for one
// commit).
package saga
