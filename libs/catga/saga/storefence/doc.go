// Package storefence is the saga fence of a participant whose effects are
// event-store appends: the fence record of each saga lives in the event
// store's own database (PostgreSQL through pgstore, SQLite through
// sqlitestore), and [Fence.Apply] writes it in the same transaction as the
// effect's appends and their outbox entries. A step is applied exactly once
// even when the participant dies between appending and recording the step:
// both commit, or neither does.
//
//	f, err := storefence.New(store) // *pgstore.Store or *sqlitestore.Store
//	...
//	op, _ := saga.OpFrom(ctx)
//	adm, err := f.Apply(ctx, op, func(ctx context.Context, es eventstore.Store) error {
//		_, err := accounts.Handle(ctx, es, req.Account, charge(req))
//		return err
//	})
//
// The rules are those of [saga.Decide], shared with saga.MemoryFence and
// redisfence: each key is applied once, a stale owner is refused, and an
// action arriving after its compensation is refused.
//
// Records stay until pruned: call the store's PruneFences periodically
// with a cut well after sagas end (redisfence keeps its records 7 days).
package storefence
