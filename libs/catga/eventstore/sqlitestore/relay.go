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
// (owner) while publish runs; without the lease it claims nothing.
func (s *Store) Claim(ctx context.Context, owner string, limit int, publish func(ctx context.Context, recs []eventstore.Record) ([]int64, error)) (int, error) {
	if limit <= 0 || owner == "" {
		return 0, fmt.Errorf("%w: claim needs an owner and a positive limit", eventstore.ErrInvalidArgument)
	}
	now := time.Now()
	var held bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.takeLease, owner, now.Add(s.cfg.leaseTimeout).UnixMicro(), owner, now.UnixMicro())
		if err != nil {
			return wrap("claim", err)
		}
		n, _ := res.RowsAffected()
		held = n == 1
		return nil
	})
	if err != nil || !held {
		return 0, err
	}
	release := func(done []int64) error {
		// The release must happen even when ctx is cancelled, or the outbox
		// stalls until the lease expires.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.busyTimeout)
		defer cancel()
		return s.inTx(rctx, func(tx *sql.Tx) error {
			if len(done) > 0 {
				js, _ := json.Marshal(done)
				if _, err := tx.ExecContext(rctx, s.q.markPublished, string(js)); err != nil {
					return wrap("mark published", err)
				}
			}
			if _, err := tx.ExecContext(rctx, s.q.releaseLease, owner); err != nil {
				return wrap("release lease", err)
			}
			return nil
		})
	}
	rows, err := s.db.QueryContext(ctx, s.q.pending, limit)
	if err != nil {
		return 0, errors.Join(wrap("claim", err), release(nil))
	}
	recs, err := scanRecords(rows, s.reg, false)
	if err != nil || len(recs) == 0 {
		if err != nil {
			err = wrap("claim", err)
		}
		return 0, errors.Join(err, release(nil))
	}
	done, perr := publish(ctx, recs)
	if err := release(done); err != nil {
		return 0, errors.Join(perr, err)
	}
	return len(done), perr
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
