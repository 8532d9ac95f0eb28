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
// it the stream, while publish runs.
func (s *Store) Claim(ctx context.Context, _ string, limit int, publish func(ctx context.Context, recs []eventstore.Record) ([]int64, error)) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("%w: limit %d", eventstore.ErrInvalidArgument, limit)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, wrap("claim", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	streams, err := pgx.CollectRows(must(tx.Query(ctx, s.q.claimHeads, limit, 4*limit)), pgx.RowTo[string])
	if err != nil {
		return 0, wrap("claim", err)
	}
	if len(streams) == 0 {
		return 0, nil
	}
	rows, err := tx.Query(ctx, s.q.claimRecords, streams, limit)
	if err != nil {
		return 0, wrap("claim", err)
	}
	recs, err := scanRecords(rows, s.reg, false)
	if err != nil {
		return 0, wrap("claim", err)
	}
	done, perr := publish(ctx, recs)
	if len(done) == 0 {
		return 0, perr
	}
	if _, err := tx.Exec(ctx, s.q.markPublished, done); err != nil {
		return 0, errors.Join(perr, wrap("mark published", err))
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, errors.Join(perr, wrap("mark published", err))
	}
	return len(done), perr
}

// must lets a Query feed CollectRows: with an error, pgx returns Rows whose
// Err reports it.
func must(rows pgx.Rows, _ error) pgx.Rows { return rows }

// Listen implements [eventstore.Outbox] with LISTEN on a connection taken out
// of the pool for the listener's lifetime.
func (s *Store) Listen(ctx context.Context) (eventstore.OutboxListener, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, wrap("listen", err)
	}
	conn := pc.Hijack() // a LISTENing connection must not go back to the pool
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, wrap("listen", err)
	}
	return &listener{conn: conn}, nil
}

type listener struct{ conn *pgx.Conn }

func (l *listener) Wait(ctx context.Context) error {
	if _, err := l.conn.WaitForNotification(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return wrap("listen", err)
	}
	return nil
}

func (l *listener) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return l.conn.Close(ctx)
}
