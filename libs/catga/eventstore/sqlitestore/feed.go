package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
)

var (
	_ eventstore.Feed        = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
)

// ReadFeed implements [eventstore.Feed]. SQLite commits one write
// transaction at a time and assigns positions inside it, so position order
// is commit order: the feed is ReadAll, with Tx always 0.
func (s *Store) ReadFeed(ctx context.Context, after eventstore.Checkpoint, limit int) ([]eventstore.Record, error) {
	return s.ReadAll(ctx, after.Position, limit)
}

// LoadCheckpoint implements [eventstore.Checkpoints].
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventstore.Checkpoint, error) {
	var cp eventstore.Checkpoint
	err := s.db.QueryRowContext(ctx, s.q.loadCheckpoint, name).Scan(&cp.Position)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Checkpoint{}, nil
	}
	if err != nil {
		return cp, wrap("load checkpoint", err)
	}
	return cp, nil
}

// SaveCheckpoint implements [eventstore.Checkpoints].
func (s *Store) SaveCheckpoint(ctx context.Context, name string, cp eventstore.Checkpoint) error {
	if cp.Tx != 0 {
		return fmt.Errorf("%w: checkpoint %v is not from a SQLite feed", eventstore.ErrInvalidArgument, cp)
	}
	if _, err := s.exec(ctx, s.q.saveCheckpoint, name, cp.Position, time.Now().UnixMicro()); err != nil {
		return wrap("save checkpoint", err)
	}
	return nil
}
