package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

// Claim implements [eventstore.Outbox]. The transaction holds the oldest
// pending entry of every stream it claims (FOR UPDATE SKIP LOCKED), and with
// it the stream, while publish runs. Claiming is one statement, and what
// publish did is written in the same transaction in one round trip.
func (s *Store) Claim(ctx context.Context, _ string, limit int, publish eventstore.PublishFunc) (eventstore.ClaimResult, error) {
	var res eventstore.ClaimResult
	if limit <= 0 {
		return res, fmt.Errorf("%w: limit %d", eventstore.ErrInvalidArgument, limit)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return res, wrap("claim", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rows, err := tx.Query(ctx, s.q.claim, limit, 4*limit)
	if err != nil {
		return res, wrap("claim", err)
	}
	entries, err := scanPending(rows)
	if err != nil {
		return res, wrap("claim", err)
	}
	if len(entries) == 0 {
		return res, nil
	}
	res.Claimed = len(entries)
	out, perr := publish(ctx, entries)
	if len(out.Published) == 0 && len(out.Failed) == 0 {
		return res, perr
	}
	b := &pgx.Batch{}
	// The claim need not wait for its commit to reach disk: if a crash
	// loses it, its entries are published again and the broker drops the
	// copies by event id, and a lost hold or park is a retry. So relays do
	// not add flushes to the appends' commit path.
	b.Queue(`SET LOCAL synchronous_commit = off`)
	if len(out.Published) > 0 {
		b.Queue(s.q.markPublished, out.Published)
	}
	var holdPos, holdWait, parkPos []int64
	var holdWhy, parkWhy []string
	for _, f := range out.Failed {
		if f.Park {
			parkPos, parkWhy = append(parkPos, f.Position), append(parkWhy, f.Reason)
			continue
		}
		holdPos, holdWhy = append(holdPos, f.Position), append(holdWhy, f.Reason)
		holdWait = append(holdWait, max(f.RetryAfter, 0).Microseconds())
	}
	if len(holdPos) > 0 {
		b.Queue(s.q.holdFailed, holdPos, holdWait, holdWhy)
	}
	if len(parkPos) > 0 {
		b.Queue(s.q.parkFailed, parkPos, parkWhy)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return res, errors.Join(perr, wrap("record outcome", err))
	}
	if err := tx.Commit(ctx); err != nil {
		return res, errors.Join(perr, wrap("record outcome", err))
	}
	res.Published, res.Held, res.Parked = len(out.Published), len(holdPos), len(parkPos)
	return res, perr
}

func scanPending(rows pgx.Rows) ([]eventstore.Pending, error) {
	defer rows.Close()
	var out []eventstore.Pending
	for rows.Next() {
		var p eventstore.Pending
		r := &p.Record
		var data, trace, meta string
		if err := rows.Scan(&r.Position, &r.ID, &r.StreamID, &r.Version, &r.Type, &data, &r.CorrelationID, &r.CausationID, &r.RecordedAt, &trace, &meta, &p.Attempts); err != nil {
			return nil, err
		}
		r.Data, r.Trace, r.Metadata = []byte(data), eventstore.DecodeTrace(trace), eventstore.DecodeTrace(meta)
		out = append(out, p)
	}
	return out, rows.Err()
}

// OutboxStats implements [eventstore.OutboxInspector].
func (s *Store) OutboxStats(ctx context.Context) (eventstore.OutboxStats, error) {
	var st eventstore.OutboxStats
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, s.q.outboxStats).Scan(&st.Pending, &st.Held, &st.Parked, &oldest); err != nil {
		return st, wrap("outbox stats", err)
	}
	if oldest != nil {
		st.OldestPending = *oldest
	}
	return st, nil
}

// Parked implements [eventstore.OutboxInspector].
func (s *Store) Parked(ctx context.Context, limit int) ([]eventstore.ParkedEntry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit %d", eventstore.ErrInvalidArgument, limit)
	}
	rows, err := s.pool.Query(ctx, s.q.parked, limit)
	if err != nil {
		return nil, wrap("parked", err)
	}
	defer rows.Close()
	var out []eventstore.ParkedEntry
	for rows.Next() {
		var p eventstore.ParkedEntry
		r := &p.Record
		var data, trace, meta string
		if err := rows.Scan(&r.Position, &r.ID, &r.StreamID, &r.Version, &r.Type, &data, &r.CorrelationID, &r.CausationID, &r.RecordedAt, &trace, &meta,
			&p.Attempts, &p.Reason, &p.ParkedAt); err != nil {
			return nil, wrap("parked", err)
		}
		r.Data, r.Trace, r.Metadata = []byte(data), eventstore.DecodeTrace(trace), eventstore.DecodeTrace(meta)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("parked", err)
	}
	return out, nil
}

// Requeue implements [eventstore.OutboxInspector].
func (s *Store) Requeue(ctx context.Context, position int64) error {
	tag, err := s.pool.Exec(ctx, s.q.requeue, position)
	if err != nil {
		return wrap("requeue", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: position %d", eventstore.ErrNotParked, position)
	}
	s.committed() // relays on other peers too
	return nil
}
