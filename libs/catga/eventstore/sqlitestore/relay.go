package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

// Claim implements [eventstore.Outbox]. The caller holds the outbox lease
// (owner) while publish runs; without the lease it claims nothing. An idle
// poll costs one read: the lease is only taken when something is claimable.
func (s *Store) Claim(ctx context.Context, owner string, limit int, publish eventstore.PublishFunc) (eventstore.ClaimResult, error) {
	var res eventstore.ClaimResult
	if limit <= 0 || owner == "" {
		return res, fmt.Errorf("%w: claim needs an owner and a positive limit", eventstore.ErrInvalidArgument)
	}
	now := time.Now()
	var ready bool
	if err := s.db.QueryRowContext(ctx, s.q.claimable, now.UnixMicro()).Scan(&ready); err != nil || !ready {
		if err != nil {
			err = wrap("claim", err)
		}
		return res, err
	}
	var held bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q.takeLease, owner, now.Add(s.cfg.leaseTimeout).UnixMicro(), owner, now.UnixMicro())
		if err != nil {
			return wrap("claim", err)
		}
		n, _ := r.RowsAffected()
		held = n == 1
		return nil
	})
	if err != nil || !held {
		return res, err
	}
	rows, err := s.db.QueryContext(ctx, s.q.pending, now.UnixMicro(), 4*limit, limit)
	if err != nil {
		return res, errors.Join(wrap("claim", err), s.release(ctx, owner, eventstore.Outcome{}))
	}
	entries, err := scanPending(rows)
	if err != nil || len(entries) == 0 {
		if err != nil {
			err = wrap("claim", err)
		}
		return res, errors.Join(err, s.release(ctx, owner, eventstore.Outcome{}))
	}
	res.Claimed = len(entries)
	pctx, cancel := context.WithDeadline(ctx, now.Add(s.cfg.leaseTimeout*4/5))
	out, perr := publish(pctx, entries)
	cancel()
	if err := s.release(ctx, owner, out); err != nil {
		return res, errors.Join(perr, err)
	}
	res.Published = len(out.Published)
	for _, f := range out.Failed {
		if f.Park {
			res.Parked++
		} else {
			res.Held++
		}
	}
	return res, perr
}

// release records the outcome and gives the lease back, in one
// transaction. It runs even when ctx is cancelled, or the outbox would stall
// until the lease expires.
func (s *Store) release(ctx context.Context, owner string, out eventstore.Outcome) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.busyTimeout)
	defer cancel()
	now := time.Now()
	return s.inTx(rctx, func(tx *sql.Tx) error {
		if len(out.Published) > 0 {
			js, _ := json.Marshal(out.Published)
			if _, err := tx.ExecContext(rctx, s.q.markPublished, string(js)); err != nil {
				return wrap("mark published", err)
			}
		}
		for _, f := range out.Failed {
			if f.Park {
				if _, err := tx.ExecContext(rctx, s.q.parkFailed, f.Reason, now.UnixMicro(), f.Position); err != nil {
					return wrap("park", err)
				}
				if _, err := tx.ExecContext(rctx, s.q.deleteEntry, f.Position); err != nil {
					return wrap("park", err)
				}
				continue
			}
			until := now.Add(max(f.RetryAfter, time.Microsecond)).UnixMicro()
			if _, err := tx.ExecContext(rctx, s.q.holdFailed, until, f.Reason, f.Position); err != nil {
				return wrap("hold", err)
			}
		}
		if _, err := tx.ExecContext(rctx, s.q.releaseLease, owner); err != nil {
			return wrap("release lease", err)
		}
		return nil
	})
}

func scanPending(rows *sql.Rows) ([]eventstore.Pending, error) {
	defer func() { _ = rows.Close() }()
	var out []eventstore.Pending
	for rows.Next() {
		var p eventstore.Pending
		r := &p.Record
		var at int64
		var trace, meta string
		if err := rows.Scan(&r.Position, &r.ID, &r.StreamID, &r.Version, &r.Type, &r.Data, &r.CorrelationID, &r.CausationID, &at, &trace, &meta, &p.Attempts); err != nil {
			return nil, err
		}
		r.RecordedAt, r.Trace, r.Metadata = time.UnixMicro(at), eventstore.DecodeTrace(trace), eventstore.DecodeTrace(meta)
		out = append(out, p)
	}
	return out, rows.Err()
}

// OutboxStats implements [eventstore.OutboxInspector].
func (s *Store) OutboxStats(ctx context.Context) (eventstore.OutboxStats, error) {
	var st eventstore.OutboxStats
	var oldest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.q.outboxStats, time.Now().UnixMicro()).Scan(&st.Pending, &st.Held, &st.Parked, &oldest); err != nil {
		return st, wrap("outbox stats", err)
	}
	if oldest.Valid {
		st.OldestPending = time.UnixMicro(oldest.Int64)
	}
	return st, nil
}

// Parked implements [eventstore.OutboxInspector].
func (s *Store) Parked(ctx context.Context, limit int) ([]eventstore.ParkedEntry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit %d", eventstore.ErrInvalidArgument, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q.parked, limit)
	if err != nil {
		return nil, wrap("parked", err)
	}
	defer func() { _ = rows.Close() }()
	var out []eventstore.ParkedEntry
	for rows.Next() {
		var p eventstore.ParkedEntry
		r := &p.Record
		var at, parkedAt int64
		var trace, meta string
		if err := rows.Scan(&r.Position, &r.ID, &r.StreamID, &r.Version, &r.Type, &r.Data, &r.CorrelationID, &r.CausationID, &at, &trace, &meta,
			&p.Attempts, &p.Reason, &parkedAt); err != nil {
			return nil, wrap("parked", err)
		}
		r.RecordedAt, r.Trace, r.Metadata, p.ParkedAt = time.UnixMicro(at), eventstore.DecodeTrace(trace), eventstore.DecodeTrace(meta), time.UnixMicro(parkedAt)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("parked", err)
	}
	return out, nil
}

// Requeue implements [eventstore.OutboxInspector].
func (s *Store) Requeue(ctx context.Context, position int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q.requeue, position)
		if err != nil {
			return wrap("requeue", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: position %d", eventstore.ErrNotParked, position)
		}
		if _, err := tx.ExecContext(ctx, s.q.deleteParked, position); err != nil {
			return wrap("requeue", err)
		}
		return nil
	})
	if err == nil {
		s.wake()
	}
	return err
}

// Listen implements [eventstore.Outbox] with an in-process signal raised by
// every commit that appended through this Store.
func (s *Store) Listen(context.Context) (eventstore.OutboxListener, error) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.listeners[ch] = struct{}{}
	s.mu.Unlock()
	return &listener{s: s, ch: ch}, nil
}

func (s *Store) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.listeners {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

type listener struct {
	s  *Store
	ch chan struct{}
}

func (l *listener) Wait(ctx context.Context) error {
	select {
	case <-l.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *listener) Close() error {
	l.s.mu.Lock()
	delete(l.s.listeners, l.ch)
	l.s.mu.Unlock()
	return nil
}
