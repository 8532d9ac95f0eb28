package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

// FenceTx runs fn in a new transaction holding the lock on id's fence
// record (a row of saga_fences, inserted if missing), so that FenceTx calls
// for one id run one after the other, across peers. fn gets the store bound
// to the transaction ([Store.WithTx]) and the record (nil if there is none)
// and returns the record to keep (nil: leave it as it is). If fn returns an
// error the transaction rolls back, its appends and the record with it, and
// the error is returned; otherwise it commits and, if it appended, the relays are woken. The
// transaction is READ COMMITTED: an aggregate command refused for a
// version conflict reloads, in the transaction, what others committed
// meanwhile, and its retry can succeed. It is the backend of package
// saga/storefence.
func (s *Store) FenceTx(ctx context.Context, id string, fn func(ctx context.Context, es eventstore.Store, record []byte) ([]byte, error)) error {
	if id == "" {
		return fmt.Errorf("%w: empty fence id", eventstore.ErrInvalidArgument)
	}
	var view *TxView
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A concurrent first FenceTx for id waits here on the other's
		// uncommitted row, later ones on the row's lock.
		var rec []byte
		if err := tx.QueryRow(ctx, s.q.fenceLock, id).Scan(&rec); err != nil {
			return wrap("fence", err)
		}
		view = s.WithTx(tx)
		next, err := fn(ctx, view, rec)
		if err != nil {
			return err
		}
		if next == nil || bytes.Equal(next, rec) {
			return nil
		}
		if _, err := tx.Exec(ctx, s.q.fenceUpdate, id, next); err != nil {
			return wrap("fence", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if view.appended { // a fence write alone gives the relays nothing to do
		s.committed()
	}
	return nil
}

// PruneFences deletes the fence records last written before before, and
// returns how many. A record must outlive every delivery of its saga's
// steps: prune well after sagas end (redisfence keeps its records 7 days).
// Records carry the database clock's time.
func (s *Store) PruneFences(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, s.q.fencePrune, before)
	if err != nil {
		return 0, wrap("prune fences", err)
	}
	return tag.RowsAffected(), nil
}
