package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	sqlitemigrate "github.com/golang-migrate/migrate/v4/database/sqlite"
	_ "modernc.org/sqlite" // registers driver "sqlite"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/internal/sqlmigrate"
	"github.com/catga-go/catga/libs/catga/inbox"
)

//go:embed migrations/*.sql
var migrations embed.FS

var prefixRE = regexp.MustCompile(`^([a-z][a-z0-9_]{0,39})?$`)

// Option configures a [Store].
type Option func(*config)

type config struct {
	prefix       string
	busyTimeout  time.Duration
	leaseTimeout time.Duration
	lockTimeout  time.Duration
	log          *slog.Logger
}

// WithTablePrefix prefixes every table name (lower case letters, digits,
// underscores; e.g. "orders_"), so several services can share one file.
// Default none.
func WithTablePrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithBusyTimeout sets how long a transaction waits for SQLite's write lock
// (default 10s).
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithLeaseTimeout sets how long a relay's outbox lease lasts (default
// 10s): how long the outbox waits for a relay that died holding it. A claim
// publishes for at most 4/5 of it, so the lease never expires under a
// relay that is still publishing (which would let two relays publish one
// stream at once, out of order).
func WithLeaseTimeout(d time.Duration) Option { return func(c *config) { c.leaseTimeout = d } }

// WithMigrationLockTimeout bounds how long Open waits for golang-migrate's
// lock (default 1m).
func WithMigrationLockTimeout(d time.Duration) Option { return func(c *config) { c.lockTimeout = d } }

// MigrationFS returns the store's migrations for table prefix, ready to run
// (table names filled in), for golang-migrate's iofs source or another
// tool.
func MigrationFS(prefix string) (fs.FS, error) {
	if !prefixRE.MatchString(prefix) {
		return nil, fmt.Errorf("catga: sqlitestore: invalid table prefix %q", prefix)
	}
	return sqlmigrate.FS(migrations, "migrations", prefix)
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// Validate reports every problem with the configuration.
func (c *config) Validate() error {
	var errs []error
	if !prefixRE.MatchString(c.prefix) {
		errs = append(errs, fmt.Errorf("catga: sqlitestore: invalid table prefix %q", c.prefix))
	}
	if c.busyTimeout <= 0 {
		errs = append(errs, errors.New("catga: sqlitestore: busy timeout must be positive"))
	}
	if c.leaseTimeout <= 0 {
		errs = append(errs, errors.New("catga: sqlitestore: lease timeout must be positive"))
	}
	if c.lockTimeout <= 0 {
		errs = append(errs, errors.New("catga: sqlitestore: migration lock timeout must be positive"))
	}
	if c.log == nil {
		errs = append(errs, errors.New("catga: sqlitestore: nil logger"))
	}
	return errors.Join(errs...)
}

// Store is an event store, outbox and inbox in one SQLite file. It
// implements [eventstore.Store], [eventstore.SnapshotStore],
// [eventstore.Outbox] and [inbox.Inbox] for *[sql.Tx].
type Store struct {
	db   *sql.DB
	reg  *eventstore.Registry
	cfg  config
	q    queries
	gate *writeGate // one write transaction of this Store at a time

	mu        sync.Mutex
	listeners map[chan struct{}]struct{}
}

var (
	_ eventstore.Store           = (*Store)(nil)
	_ eventstore.SnapshotStore   = (*Store)(nil)
	_ eventstore.Outbox          = (*Store)(nil)
	_ eventstore.OutboxInspector = (*Store)(nil)
	_ inbox.Inbox[*sql.Tx]       = (*Store)(nil)
	_ inbox.Pruner               = (*Store)(nil)
)

// Open opens (creating if needed) the database file at path and applies
// migrations. Close releases it.
func Open(ctx context.Context, path string, reg *eventstore.Registry, opts ...Option) (*Store, error) {
	cfg := config{busyTimeout: 10 * time.Second, leaseTimeout: 10 * time.Second, lockTimeout: time.Minute, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.Contains(path, "?") {
		return nil, fmt.Errorf("%w: sqlitestore needs a plain file path, got %q", eventstore.ErrInvalidArgument, path)
	}
	if reg == nil {
		return nil, errors.New("catga: sqlitestore: nil registry")
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL, not NORMAL: with NORMAL a power loss can roll back a commit the
	// relay already published, and the stream's versions would then be
	// reused by different events.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("catga: sqlitestore: open: %w", err)
	}
	s := &Store{db: db, reg: reg, cfg: cfg, q: newQueries(cfg.prefix), gate: newWriteGate(), listeners: map[chan struct{}]struct{}{}}
	if err := s.migrate(ctx, path); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the underlying database, e.g. for a service's own tables.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) migrate(ctx context.Context, path string) error {
	// golang-migrate's SQLite driver only locks within one driver instance;
	// a file lock keeps concurrent starters (processes or not) apart.
	unlock, err := lockFile(path + ".migrate.lock")
	if err != nil {
		return err
	}
	defer unlock()
	// A dedicated single-connection handle: the driver must not close ours.
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout("+fmt.Sprint(s.cfg.busyTimeout.Milliseconds())+")&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("catga: sqlitestore: migrate: %w", err)
	}
	conn.SetMaxOpenConns(1)
	// WAL is a property of the file. Switching to it needs the database to
	// itself, so do it here, once, under the file lock: connections racing to
	// switch it later fail with SQLITE_BUSY without waiting.
	if _, err := conn.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
		_ = conn.Close()
		return fmt.Errorf("catga: sqlitestore: migrate: %w", err)
	}
	drv, err := sqlitemigrate.WithInstance(conn, &sqlitemigrate.Config{MigrationsTable: s.cfg.prefix + "schema_migrations"})
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("catga: sqlitestore: migrate: %w", err)
	}
	defer func() { _ = drv.Close() }() // closes conn
	if err := sqlmigrate.Up(migrations, "migrations", s.cfg.prefix, drv, "sqlite", s.cfg.lockTimeout); err != nil {
		return err
	}
	s.cfg.log.Debug("catga: sqlitestore: migrated", "prefix", s.cfg.prefix)
	return nil
}

// Append implements [eventstore.Store].
func (s *Store) Append(ctx context.Context, streamID string, expectedVersion int64, events []eventstore.Event, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	recs, err := eventstore.Prepare(ctx, s.reg, streamID, expectedVersion, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	var res eventstore.AppendResult
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.appendTx(ctx, tx, streamID, expectedVersion, recs, eventstore.ResolveAppendOptions(opts))
		return err
	})
	if err == nil {
		s.wake()
	}
	return res, err
}

// AppendTx is Append inside the caller's transaction, typically the one
// [Store.Process] passes to an inbox effect (Process wakes the relays after
// it commits; a caller committing its own transaction leaves them to poll).
func (s *Store) AppendTx(ctx context.Context, tx *sql.Tx, streamID string, expectedVersion int64, events []eventstore.Event, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	recs, err := eventstore.Prepare(ctx, s.reg, streamID, expectedVersion, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	// A savepoint undoes a refused append without aborting the caller's
	// transaction.
	if _, err := tx.ExecContext(ctx, `SAVEPOINT catga_append`); err != nil {
		return eventstore.AppendResult{}, wrap("append", err)
	}
	res, err := s.appendTx(ctx, tx, streamID, expectedVersion, recs, eventstore.ResolveAppendOptions(opts))
	if err != nil {
		_, rerr := tx.ExecContext(ctx, `ROLLBACK TO catga_append; RELEASE catga_append`)
		return eventstore.AppendResult{}, errors.Join(err, rerr)
	}
	if _, err := tx.ExecContext(ctx, `RELEASE catga_append`); err != nil {
		return eventstore.AppendResult{}, wrap("append", err)
	}
	return res, nil
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.gate.enter(ctx, s.cfg.busyTimeout); err != nil {
		return wrap("begin", err)
	}
	defer s.gate.leave()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("begin", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap("commit", err)
	}
	return nil
}

func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, streamID string, expected int64, recs []eventstore.Record, o eventstore.AppendOptions) (eventstore.AppendResult, error) {
	now := time.Now()
	if err := s.recordInbox(ctx, tx, o, now); err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.appendStream(ctx, tx, streamID, expected, recs, now)
}

// recordInbox records the append's inbox entry, if it has one, or returns
// inbox.ErrDuplicate.
func (s *Store) recordInbox(ctx context.Context, tx *sql.Tx, o eventstore.AppendOptions, now time.Time) error {
	if o.InboxConsumer == "" {
		return nil
	}
	res, err := tx.ExecContext(ctx, s.q.inboxInsert, o.InboxConsumer, o.InboxMessageID, now.UnixMicro())
	if err != nil {
		return wrap("inbox", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return inbox.ErrDuplicate
	}
	return nil
}

// appendStream appends one stream's events and their outbox entries.
func (s *Store) appendStream(ctx context.Context, tx *sql.Tx, streamID string, expected int64, recs []eventstore.Record, now time.Time) (eventstore.AppendResult, error) {
	n := int64(len(recs))
	var version int64
	if expected == eventstore.Any {
		err := tx.QueryRowContext(ctx, s.q.streamAny, streamID, n).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) { // deleted
			return eventstore.AppendResult{}, s.refused(ctx, tx, streamID, expected)
		}
		if err != nil {
			return eventstore.AppendResult{}, wrap("append", err)
		}
		for i := range recs {
			recs[i].Version = version - n + int64(i) + 1
		}
	} else {
		var res sql.Result
		var err error
		if expected == eventstore.NoStream {
			res, err = tx.ExecContext(ctx, s.q.streamNew, streamID, n)
		} else {
			res, err = tx.ExecContext(ctx, s.q.streamUpdate, expected+n, streamID, expected)
		}
		if err != nil {
			return eventstore.AppendResult{}, wrap("append", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return eventstore.AppendResult{}, s.refused(ctx, tx, streamID, expected)
		}
		version = expected + n
	}
	for i := range recs {
		r := &recs[i]
		r.RecordedAt = time.UnixMicro(now.UnixMicro())
		if err := tx.QueryRowContext(ctx, s.q.insertEvent, r.ID, r.StreamID, r.Version, r.Type, r.Data, r.CorrelationID, r.CausationID, now.UnixMicro(), eventstore.EncodeTrace(r.Trace), eventstore.EncodeTrace(r.Metadata)).Scan(&r.Position); err != nil {
			return eventstore.AppendResult{}, s.wrapInsert(err)
		}
		if _, err := tx.ExecContext(ctx, s.q.insertOutbox, r.Position, r.StreamID); err != nil {
			return eventstore.AppendResult{}, wrap("append", err)
		}
	}
	return eventstore.AppendResult{Version: version, Records: recs}, nil
}

// querier is a database or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// refused explains a refused append: the stream is deleted, or not at the
// expected version.
func (s *Store) refused(ctx context.Context, q querier, streamID string, expected int64) error {
	var actual int64
	var deleted bool
	if err := q.QueryRowContext(ctx, s.q.streamVersion, streamID).Scan(&actual, &deleted); err != nil {
		return wrap("append", err)
	}
	return eventstore.Refused(streamID, expected, actual, deleted)
}

// DeleteStream implements [eventstore.StreamDeleter].
func (s *Store) DeleteStream(ctx context.Context, streamID string, expectedVersion int64) error {
	if streamID == "" || expectedVersion < eventstore.Any {
		return fmt.Errorf("%w: delete %q at %d", eventstore.ErrInvalidArgument, streamID, expectedVersion)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.deleteStream, streamID, expectedVersion)
		if err != nil {
			return wrap("delete stream", err)
		}
		n, _ := res.RowsAffected()
		if n == 0 && expectedVersion <= eventstore.NoStream {
			if res, err = tx.ExecContext(ctx, s.q.tombstoneNew, streamID); err != nil {
				return wrap("delete stream", err)
			}
			n, _ = res.RowsAffected()
		}
		if n == 0 {
			return s.refused(ctx, tx, streamID, expectedVersion)
		}
		if _, err := tx.ExecContext(ctx, s.q.deleteSnapshot, streamID); err != nil {
			return wrap("delete stream", err)
		}
		return nil
	})
}

func (s *Store) wrapInsert(err error) error {
	if strings.Contains(err.Error(), "UNIQUE constraint failed: "+s.q.dupEventID) {
		return catga.Permanent(fmt.Errorf("catga: sqlitestore: append: duplicate event id: %w", err))
	}
	return wrap("append", err)
}

func wrap(op string, err error) error {
	return fmt.Errorf("catga: sqlitestore: %s: %w", op, err)
}

func scanRecords(rows *sql.Rows, reg *eventstore.Registry, decode bool) ([]eventstore.Record, error) {
	defer func() { _ = rows.Close() }()
	var out []eventstore.Record
	for rows.Next() {
		var r eventstore.Record
		var at int64
		var trace, meta string
		if err := rows.Scan(&r.Position, &r.ID, &r.StreamID, &r.Version, &r.Type, &r.Data, &r.CorrelationID, &r.CausationID, &at, &trace, &meta); err != nil {
			return nil, err
		}
		r.RecordedAt, r.Trace, r.Metadata = time.UnixMicro(at), eventstore.DecodeTrace(trace), eventstore.DecodeTrace(meta)
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
	return s.load(ctx, s.db, streamID, afterVersion)
}

// ReadAll implements [eventstore.Store].
func (s *Store) ReadAll(ctx context.Context, afterPosition int64, limit int) ([]eventstore.Record, error) {
	return s.readAll(ctx, s.db, afterPosition, limit)
}

// reader is a database or a transaction.
type reader interface {
	querier
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) load(ctx context.Context, q reader, streamID string, afterVersion int64) ([]eventstore.Record, error) {
	rows, err := q.QueryContext(ctx, s.q.load, streamID, afterVersion)
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
		if err := q.QueryRowContext(ctx, s.q.streamVersion, streamID).Scan(&version, &deleted); err != nil {
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
	rows, err := q.QueryContext(ctx, s.q.readAll, afterPosition, limit)
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
	if _, err := s.exec(ctx, s.q.saveSnapshot, snap.StreamID, snap.Version, name, data, time.Now().UnixMicro(), snap.SchemaVersion); err != nil {
		return wrap("save snapshot", err)
	}
	return nil
}

// LoadSnapshot implements [eventstore.SnapshotStore].
func (s *Store) LoadSnapshot(ctx context.Context, streamID string) (eventstore.Snapshot, error) {
	snap := eventstore.Snapshot{StreamID: streamID}
	var typ string
	var data []byte
	err := s.db.QueryRowContext(ctx, s.q.loadSnapshot, streamID).Scan(&snap.Version, &typ, &data, &snap.SchemaVersion)
	if errors.Is(err, sql.ErrNoRows) {
		return snap, eventstore.ErrNoSnapshot
	}
	if err != nil {
		return snap, wrap("load snapshot", err)
	}
	v, err := s.reg.Decode(typ, data)
	if err != nil {
		return snap, &eventstore.DecodeError{StreamID: streamID, Version: snap.Version, Type: typ, Err: err}
	}
	snap.State = v
	return snap, nil
}

// DeleteSnapshot implements [eventstore.SnapshotStore].
func (s *Store) DeleteSnapshot(ctx context.Context, streamID string) error {
	if _, err := s.exec(ctx, s.q.deleteSnapshot, streamID); err != nil {
		return wrap("delete snapshot", err)
	}
	return nil
}

// Process implements [inbox.Inbox]: effect runs in the transaction that
// records (consumer, messageID). Use [Store.AppendTx] in effect to append
// events atomically with the inbox record.
func (s *Store) Process(ctx context.Context, consumer, messageID string, effect func(ctx context.Context, tx *sql.Tx) error) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.inboxInsert, consumer, messageID, time.Now().UnixMicro())
		if err != nil {
			return wrap("inbox", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return inbox.ErrDuplicate
		}
		return effect(ctx, tx)
	})
	if err == nil {
		s.wake() // the effect may have appended
	}
	return err
}

// Prune implements [inbox.Pruner].
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, s.q.pruneInbox, before.UnixMicro())
	if err != nil {
		return 0, wrap("prune inbox", err)
	}
	return res.RowsAffected()
}
