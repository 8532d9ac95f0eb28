package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrWriteBusy is returned when a write waited longer than the busy timeout
// for this Store's other writes to finish (see [WithBusyTimeout]). It is
// retryable, as SQLite's own SQLITE_BUSY is.
var ErrWriteBusy = errors.New("catga: sqlitestore: write lock busy")

// writeGate lets one write of this Store at a time reach SQLite.
//
// Why: SQLite has one write lock per file, and a connection that finds it
// taken waits in its busy handler, which sleeps on a fixed schedule (1, 2,
// 5, ... up to 100 ms between tries) rather than being woken when the lock
// is free. With dozens of concurrent writers (inbox deliveries, fenced saga
// steps, the relay) the lock then sits idle while they sleep, and a peer
// tops out at a few dozen transactions a second whatever the disk can do.
// Queuing the writers of one process here, in Go, hands the lock over at
// once, in arrival order; SQLite's busy handler is left with the writers of
// other processes sharing the file. The gate changes no guarantee: write
// transactions already ran one at a time (BEGIN IMMEDIATE), and reads do not
// take it.
type writeGate struct {
	ch      chan struct{}
	waiting atomic.Int64 // writers queued, for tests
}

func newWriteGate() *writeGate { return &writeGate{ch: make(chan struct{}, 1)} }

// enter waits for the gate, at most timeout (a write that waits on another
// of its own store's, e.g. one nested in an effect, fails as it would have
// on SQLite's lock) or until ctx ends; leave must follow a nil error.
func (g *writeGate) enter(ctx context.Context, timeout time.Duration) error {
	select {
	case g.ch <- struct{}{}:
		return nil
	default:
	}
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case g.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%w: waited %v for this store's other writes", ErrWriteBusy, timeout)
	}
}

func (g *writeGate) leave() { <-g.ch }

// exec runs a write outside a transaction through the gate.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := s.gate.enter(ctx, s.cfg.busyTimeout); err != nil {
		return nil, err
	}
	defer s.gate.leave()
	return s.db.ExecContext(ctx, query, args...)
}
