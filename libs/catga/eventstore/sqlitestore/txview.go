package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

// TxView is the store bound to a caller's transaction: appends go through
// [Store.AppendTx] and [Store.AppendMultiTx] (a refused one leaves the
// transaction usable), reads see the transaction's own writes. It is an
// [eventstore.Store], so [eventstore.Aggregate.Handle] and HandleMulti work
// on it unchanged, their appends committing with the transaction. It takes
// no snapshots and reads none. Use it only while tx is open.
type TxView struct {
	s  *Store
	tx *sql.Tx
	// appended: an append through the view succeeded, so the
	// transaction's commit has outbox entries to wake the relays for.
	appended bool
}

var _ eventstore.Store = (*TxView)(nil)

// WithTx returns the store bound to tx.
func (s *Store) WithTx(tx *sql.Tx) *TxView { return &TxView{s: s, tx: tx} }

// Append implements [eventstore.Store] in the transaction.
func (v *TxView) Append(ctx context.Context, streamID string, expectedVersion int64, events []eventstore.Event, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	res, err := v.s.AppendTx(ctx, v.tx, streamID, expectedVersion, events, opts...)
	v.appended = v.appended || err == nil
	return res, err
}

// AppendMulti implements [eventstore.Store] in the transaction.
func (v *TxView) AppendMulti(ctx context.Context, appends []eventstore.StreamAppend, opts ...eventstore.AppendOption) ([]eventstore.AppendResult, error) {
	res, err := v.s.AppendMultiTx(ctx, v.tx, appends, opts...)
	v.appended = v.appended || err == nil
	return res, err
}

// Load implements [eventstore.Store] in the transaction.
func (v *TxView) Load(ctx context.Context, streamID string, afterVersion int64) ([]eventstore.Record, error) {
	return v.s.load(ctx, v.tx, streamID, afterVersion)
}

// ReadAll implements [eventstore.Store] in the transaction.
func (v *TxView) ReadAll(ctx context.Context, afterPosition int64, limit int) ([]eventstore.Record, error) {
	return v.s.readAll(ctx, v.tx, afterPosition, limit)
}
