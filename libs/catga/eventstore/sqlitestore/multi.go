package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

// AppendMulti implements [eventstore.Store]: one transaction, every part or
// none. SQLite writes one transaction at a time, so the parts' positions
// are contiguous and no reader sees some of them without the others.
func (s *Store) AppendMulti(ctx context.Context, appends []eventstore.StreamAppend, opts ...eventstore.AppendOption) ([]eventstore.AppendResult, error) {
	parts, err := eventstore.PrepareMulti(ctx, s.reg, appends)
	if err != nil {
		return nil, err
	}
	var res []eventstore.AppendResult
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.appendMulti(ctx, tx, parts, eventstore.ResolveAppendOptions(opts))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	return res, nil
}

// AppendMultiTx is AppendMulti inside the caller's transaction; see
// [Store.AppendTx].
func (s *Store) AppendMultiTx(ctx context.Context, tx *sql.Tx, appends []eventstore.StreamAppend, opts ...eventstore.AppendOption) ([]eventstore.AppendResult, error) {
	parts, err := eventstore.PrepareMulti(ctx, s.reg, appends)
	if err != nil {
		return nil, err
	}
	// A savepoint undoes the parts already written when a later one is
	// refused, and keeps the caller's transaction usable.
	if _, err := tx.ExecContext(ctx, `SAVEPOINT catga_append_multi`); err != nil {
		return nil, wrap("append", err)
	}
	res, err := s.appendMulti(ctx, tx, parts, eventstore.ResolveAppendOptions(opts))
	if err != nil {
		_, rerr := tx.ExecContext(ctx, `ROLLBACK TO catga_append_multi; RELEASE catga_append_multi`)
		return nil, errors.Join(err, rerr)
	}
	if _, err := tx.ExecContext(ctx, `RELEASE catga_append_multi`); err != nil {
		return nil, wrap("append", err)
	}
	return res, nil
}

func (s *Store) appendMulti(ctx context.Context, tx *sql.Tx, parts []eventstore.PreparedAppend, o eventstore.AppendOptions) ([]eventstore.AppendResult, error) {
	now := time.Now()
	if err := s.recordInbox(ctx, tx, o, now); err != nil {
		return nil, err
	}
	// The transaction holds SQLite's only write lock, so the order of the
	// parts cannot deadlock; they come sorted by stream id all the same,
	// which decides which conflict is reported first.
	res := make([]eventstore.AppendResult, len(parts))
	for _, p := range parts {
		r, err := s.appendStream(ctx, tx, p.StreamID, p.ExpectedVersion, p.Records, now)
		if err != nil {
			return nil, err
		}
		res[p.Index] = r
	}
	return res, nil
}
