package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

// FenceTx runs fn in a new transaction with id's fence record (a row of
// saga_fences). Transactions here are IMMEDIATE, holding SQLite's write
// lock from their start, so FenceTx calls run one after the other, across
// processes sharing the file. fn gets the store bound to the transaction
// ([Store.WithTx]) and the record (nil if there is none) and returns the
// record to keep (nil: leave it as it is). If fn returns an error the
// transaction rolls back, its appends and the record with it, and the error
// is returned; otherwise it commits and, if it appended, the relays are
// woken. It is the backend of package saga/storefence.
func (s *Store) FenceTx(ctx context.Context, id string, fn func(ctx context.Context, es eventstore.Store, record []byte) ([]byte, error)) error {
	if id == "" {
		return fmt.Errorf("%w: empty fence id", eventstore.ErrInvalidArgument)
	}
	var view *TxView
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var rec []byte
		err := tx.QueryRowContext(ctx, s.q.fenceLoad, id).Scan(&rec)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
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
		if _, err := tx.ExecContext(ctx, s.q.fenceSave, id, next, time.Now().UnixMicro()); err != nil {
			return wrap("fence", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if view.appended { // a fence write alone gives the relays nothing to do
		s.wake()
	}
	return nil
}

// PruneFences deletes the fence records last written before before, and
// returns how many. A record must outlive every delivery of its saga's
// steps: prune well after sagas end (redisfence keeps its records 7 days).
func (s *Store) PruneFences(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, s.q.fencePrune, before.UnixMicro())
	if err != nil {
		return 0, wrap("prune fences", err)
	}
	return res.RowsAffected()
}
