package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/inbox"
)

func scanRecords(rows pgx.Rows, reg *eventstore.Registry, decode bool) ([]eventstore.Record, error) {
	defer rows.Close()
	var out []eventstore.Record
	for rows.Next() {
		var r eventstore.Record
		var data, trace, meta string
		if err := rows.Scan(&r.Position, &r.ID, &r.StreamID, &r.Version, &r.Type, &data, &r.CorrelationID, &r.CausationID, &r.RecordedAt, &trace, &meta); err != nil {
			return nil, err
		}
		r.Data, r.Trace, r.Metadata = []byte(data), eventstore.DecodeTrace(trace), eventstore.DecodeTrace(meta)
		if decode {
			if err := eventstore.DecodeRecord(reg, &r); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Load implements [eventstore.Store].
func (s *Store) Load(ctx context.Context, streamID string, afterVersion int64) ([]eventstore.Record, error) {
	return s.load(ctx, s.pool, streamID, afterVersion)
}

// ReadAll implements [eventstore.Store].
func (s *Store) ReadAll(ctx context.Context, afterPosition int64, limit int) ([]eventstore.Record, error) {
	return s.readAll(ctx, s.pool, afterPosition, limit)
}

// reader is a pool or a transaction.
type reader interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) load(ctx context.Context, q reader, streamID string, afterVersion int64) ([]eventstore.Record, error) {
	rows, err := q.Query(ctx, s.q.load, streamID, afterVersion)
	if err != nil {
		return nil, wrap("load", err)
	}
	recs, err := scanRecords(rows, s.reg, true)
	if err != nil && !errors.As(err, new(*eventstore.DecodeError)) {
		return nil, wrap("load", err)
	}
	if err == nil && len(recs) == 0 {
		// Nothing: an empty, missing or deleted stream.
		var version int64
		var deleted bool
		if err := q.QueryRow(ctx, s.q.streamVersion, streamID).Scan(&version, &deleted); err != nil {
			return nil, wrap("load", err)
		}
		if deleted {
			return nil, eventstore.StreamDeleted(streamID)
		}
	}
	return recs, err
}

func (s *Store) readAll(ctx context.Context, q reader, afterPosition int64, limit int) ([]eventstore.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit %d", eventstore.ErrInvalidArgument, limit)
	}
	rows, err := q.Query(ctx, s.q.readAll, afterPosition, limit)
	if err != nil {
		return nil, wrap("read all", err)
	}
	recs, err := scanRecords(rows, s.reg, true)
	if err != nil && !errors.As(err, new(*eventstore.DecodeError)) {
		return nil, wrap("read all", err)
	}
	return recs, err
}

// SaveSnapshot implements [eventstore.SnapshotStore].
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	name, data, err := s.reg.Encode(snap.State)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.q.saveSnapshot, snap.StreamID, snap.Version, name, string(data), snap.SchemaVersion); err != nil {
		return wrap("save snapshot", err)
	}
	return nil
}

// LoadSnapshot implements [eventstore.SnapshotStore].
func (s *Store) LoadSnapshot(ctx context.Context, streamID string) (eventstore.Snapshot, error) {
	snap := eventstore.Snapshot{StreamID: streamID}
	var typ, data string
	err := s.pool.QueryRow(ctx, s.q.loadSnapshot, streamID).Scan(&snap.Version, &typ, &data, &snap.SchemaVersion)
	if errors.Is(err, pgx.ErrNoRows) {
		return snap, eventstore.ErrNoSnapshot
	}
	if err != nil {
		return snap, wrap("load snapshot", err)
	}
	v, err := s.reg.Decode(typ, []byte(data))
	if err != nil {
		return snap, &eventstore.DecodeError{StreamID: streamID, Version: snap.Version, Type: typ, Err: err}
	}
	snap.State = v
	return snap, nil
}

// DeleteSnapshot implements [eventstore.SnapshotStore].
func (s *Store) DeleteSnapshot(ctx context.Context, streamID string) error {
	if _, err := s.pool.Exec(ctx, s.q.deleteSnapshot, streamID); err != nil {
		return wrap("delete snapshot", err)
	}
	return nil
}

// Process implements [inbox.Inbox]: effect runs in the transaction that
// records (consumer, messageID). Use [Store.AppendTx] in effect to append
// events atomically with the inbox record.
func (s *Store) Process(ctx context.Context, consumer, messageID string, effect func(ctx context.Context, tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A concurrent duplicate blocks here on the primary key until the
		// first commits (then it is a duplicate) or rolls back (then it runs).
		tag, err := tx.Exec(ctx, s.q.inboxInsert, consumer, messageID)
		if err != nil {
			return wrap("inbox", err)
		}
		if tag.RowsAffected() == 0 {
			return inbox.ErrDuplicate
		}
		return effect(ctx, tx)
	})
	if err == nil {
		s.committed() // the effect may have appended
	}
	return err
}

// Prune implements [inbox.Pruner]. Records carry the database clock's time.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, s.q.pruneInbox, before)
	if err != nil {
		return 0, wrap("prune inbox", err)
	}
	return tag.RowsAffected(), nil
}
