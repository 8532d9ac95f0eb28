package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

var (
	_ eventstore.Feed        = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
)

// ReadFeed implements [eventstore.Feed]: events in (transaction id,
// position) order, up to the oldest transaction still running on the
// server (pg_snapshot_xmin). Any transaction that commits later has an id
// at or above it, so it sorts after everything returned. A long-running
// writing transaction anywhere on the server holds the feed back until it
// ends.
func (s *Store) ReadFeed(ctx context.Context, after eventstore.Checkpoint, limit int) ([]eventstore.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit %d", eventstore.ErrInvalidArgument, limit)
	}
	rows, err := s.pool.Query(ctx, s.q.readFeed, strconv.FormatUint(after.Tx, 10), after.Position, limit)
	if err != nil {
		return nil, wrap("read feed", err)
	}
	defer rows.Close()
	var out []eventstore.Record
	for rows.Next() {
		var r eventstore.Record
		var tx, data, trace, meta string
		if err := rows.Scan(&tx, &r.Position, &r.ID, &r.StreamID, &r.Version, &r.Type, &data, &r.CorrelationID, &r.CausationID, &r.RecordedAt, &trace, &meta); err != nil {
			return nil, wrap("read feed", err)
		}
		if r.Tx, err = strconv.ParseUint(tx, 10, 64); err != nil {
			return nil, wrap("read feed", err)
		}
		r.Data, r.Trace, r.Metadata = []byte(data), eventstore.DecodeTrace(trace), eventstore.DecodeTrace(meta)
		if err := eventstore.DecodeRecord(s.reg, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("read feed", err)
	}
	return out, nil
}

// LoadCheckpoint implements [eventstore.Checkpoints].
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventstore.Checkpoint, error) {
	var cp eventstore.Checkpoint
	var tx string
	err := s.pool.QueryRow(ctx, s.q.loadCheckpoint, name).Scan(&tx, &cp.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Checkpoint{}, nil
	}
	if err != nil {
		return cp, wrap("load checkpoint", err)
	}
	if cp.Tx, err = strconv.ParseUint(tx, 10, 64); err != nil {
		return cp, wrap("load checkpoint", err)
	}
	return cp, nil
}

// SaveCheckpoint implements [eventstore.Checkpoints].
func (s *Store) SaveCheckpoint(ctx context.Context, name string, cp eventstore.Checkpoint) error {
	if _, err := s.pool.Exec(ctx, s.q.saveCheckpoint, name, strconv.FormatUint(cp.Tx, 10), cp.Position); err != nil {
		return wrap("save checkpoint", err)
	}
	return nil
}
