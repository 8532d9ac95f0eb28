package pgstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

// Relays learn of new outbox entries two ways. Relays on this Store are
// woken in-process as soon as an append commits. Relays elsewhere (other
// peers, other Store values) get one NOTIFY per notify interval however many
// appends committed in it: a notifying commit takes a cluster-wide lock in
// PostgreSQL, so a NOTIFY per append would serialise every commit of every
// schema on the server.

// wakers is the set of in-process listeners of one Store.
type wakers struct {
	mu  sync.Mutex
	set map[chan struct{}]struct{}
}

func (w *wakers) add() chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.set == nil {
		w.set = map[chan struct{}]struct{}{}
	}
	w.set[ch] = struct{}{}
	w.mu.Unlock()
	return ch
}

func (w *wakers) remove(ch chan struct{}) {
	w.mu.Lock()
	delete(w.set, ch)
	w.mu.Unlock()
}

func (w *wakers) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.set {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// committed is called after a commit that added outbox entries.
func (s *Store) committed() {
	if s.cfg.noOutbox {
		return
	}
	s.wakeLocal()
	if s.cfg.notifyInterval < 0 || !s.notifyPending.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(s.cfg.notifyInterval, func() {
		s.notifyPending.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, '')`, s.channel); err != nil {
			// Remote relays poll as a fallback.
			s.cfg.log.Debug("catga: pgstore: notify failed", "schema", s.cfg.schema, "err", err)
		}
	})
}

func (s *Store) wakeLocal() { s.local.wake() }

// Committed tells this Store's relays (and, debounced, the others) that a
// transaction in which the caller appended with [Store.AppendTx] has
// committed. Without it they find the events at their next poll.
func (s *Store) Committed() { s.committed() }

// Listen implements [eventstore.Outbox]: the listener wakes on this Store's
// own commits at once, and on NOTIFY (other peers' commits) through a
// connection taken out of the pool for the listener's lifetime.
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
	lctx, cancel := context.WithCancel(context.Background())
	l := &listener{s: s, local: s.local.add(), remote: make(chan struct{}, 1), broken: make(chan error, 1), conn: conn, cancel: cancel}
	l.wg.Go(func() { l.receive(lctx) })
	return l, nil
}

type listener struct {
	s      *Store
	local  chan struct{}
	remote chan struct{}
	broken chan error
	conn   *pgx.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// receive turns notifications into signals on remote until the connection
// breaks (reported on broken) or the listener closes.
func (l *listener) receive(ctx context.Context) {
	for {
		if _, err := l.conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() == nil {
				l.broken <- wrap("listen", err)
			}
			return
		}
		select {
		case l.remote <- struct{}{}:
		default:
		}
	}
}

func (l *listener) Wait(ctx context.Context) error {
	select {
	case <-l.local:
		return nil
	case <-l.remote:
		return nil
	case err := <-l.broken:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *listener) Close() error {
	l.s.local.remove(l.local)
	l.cancel()
	l.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.conn.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
