// Package redisfence is a saga fence shared by every instance of a
// participant through Redis (a single node or a cluster): one hash per
// saga, under the saga's {id} hash tag.
//
// [Fence] implements saga.Fence (Admit, Commit, Abort) for the saga guards.
// For exactly-once, a participant whose effect is a set of Redis writes uses
// [Fence.Apply] (or [Fence.ApplyWatched] when it reads before writing): the
// decision, the writes and the fence record commit in one MULTI/EXEC, so a
// crash or a failover between the effect and its record cannot apply the
// effect twice. The effect builds that transaction: it queues writes, and it
// may be called more than once for one commit (see [Fence.ApplyWatched]).
// Participants whose effects are event-store appends use saga/storefence.
//
// It lives apart from package saga so that services that do not use Redis
// do not link go-redis.
package redisfence
