package pgstore

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

// AppendMulti implements [eventstore.Store]: one transaction, every part or
// none.
func (s *Store) AppendMulti(ctx context.Context, appends []eventstore.StreamAppend, opts ...eventstore.AppendOption) ([]eventstore.AppendResult, error) {
	parts, err := eventstore.PrepareMulti(ctx, s.reg, appends)
	if err != nil {
		return nil, err
	}
	var res []eventstore.AppendResult
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = s.appendMulti(ctx, tx, parts, eventstore.ResolveAppendOptions(opts))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.committed()
	return res, nil
}

// AppendMultiTx is AppendMulti inside the caller's transaction; see
// [Store.AppendTx] for waking the relays.
func (s *Store) AppendMultiTx(ctx context.Context, tx pgx.Tx, appends []eventstore.StreamAppend, opts ...eventstore.AppendOption) ([]eventstore.AppendResult, error) {
	parts, err := eventstore.PrepareMulti(ctx, s.reg, appends)
	if err != nil {
		return nil, err
	}
	// A savepoint undoes the parts already written when a later one is
	// refused, and keeps the caller's transaction usable.
	var res []eventstore.AppendResult
	err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		var err error
		res, err = s.appendMulti(ctx, sp, parts, eventstore.ResolveAppendOptions(opts))
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Store) appendMulti(ctx context.Context, tx pgx.Tx, parts []eventstore.PreparedAppend, o eventstore.AppendOptions) ([]eventstore.AppendResult, error) {
	if err := s.recordInbox(ctx, tx, o); err != nil {
		return nil, err
	}
	// Claim every stream row first, in stream id order (parts are sorted):
	// two multi-appends over overlapping streams take the row locks in the
	// same order, so one waits for the other and neither deadlocks.
	versions := make([]int64, len(parts))
	streams := make([]string, len(parts))
	var feedTx uint64
	for i, p := range parts {
		v, stx, err := s.claimStream(ctx, tx, p.StreamID, p.ExpectedVersion, int64(len(p.Records)))
		if err != nil {
			return nil, err
		}
		t, err := strconv.ParseUint(stx, 10, 64)
		if err != nil {
			return nil, wrap("append", err)
		}
		versions[i], streams[i], feedTx = v, p.StreamID, max(feedTx, t)
	}
	// All the events share one feed tx, the highest of the streams', so the
	// feed orders them together; raising the other streams to it keeps each
	// stream's feed tx from ever decreasing.
	ftx := strconv.FormatUint(feedTx, 10)
	if len(parts) > 1 {
		if _, err := tx.Exec(ctx, s.q.raiseStreamTx, streams, ftx); err != nil {
			return nil, wrap("append", err)
		}
	}
	res := make([]eventstore.AppendResult, len(parts))
	for i, p := range parts {
		if err := s.insertEvents(ctx, tx, p.Records, versions[i], ftx); err != nil {
			return nil, err
		}
		res[p.Index] = eventstore.AppendResult{Version: versions[i], Records: p.Records}
	}
	return res, nil
}
