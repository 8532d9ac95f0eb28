package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/internal/sqlmigrate"
	"github.com/catga-go/catga/libs/catga/inbox"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultSchema is the schema used without [WithSchema].
const DefaultSchema = "catga"

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// Option configures a [Store].
type Option func(*config)

type config struct {
	schema         string
	migrate        bool
	notifyInterval time.Duration
	noOutbox       bool
	lockTimeout    time.Duration
	log            *slog.Logger
}

// WithSchema sets the schema that holds this service's tables (lower case
// letters, digits and underscores, at most 40). Default [DefaultSchema].
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithoutMigrations skips creating the schema and migrating at New, for
// deployments that migrate separately.
func WithoutMigrations() Option { return func(c *config) { c.migrate = false } }

// WithNotifyInterval sets how often, at most, commits are announced to
// relays outside this Store with a NOTIFY (default 20ms; negative: never,
// they poll). Relays on this Store are woken in-process at once either way.
func WithNotifyInterval(d time.Duration) Option { return func(c *config) { c.notifyInterval = d } }

// WithoutOutbox makes appends write no outbox entries, for a service whose
// events are read through the feed ([Store.ReadFeed], catch-up
// subscriptions) rather than published.
func WithoutOutbox() Option { return func(c *config) { c.noOutbox = true } }

// WithMigrationLockTimeout bounds how long New waits for another peer's
// migration lock (default 1m).
func WithMigrationLockTimeout(d time.Duration) Option { return func(c *config) { c.lockTimeout = d } }

// MigrationFS returns the store's migrations for schema, ready to run
// (schema names filled in), for deployments that migrate separately
// ([WithoutMigrations]) with golang-migrate's iofs source or another tool.
func MigrationFS(schema string) (fs.FS, error) {
	if !schemaRE.MatchString(schema) {
		return nil, fmt.Errorf("catga: pgstore: invalid schema name %q", schema)
	}
	return sqlmigrate.FS(migrations, "migrations", pgx.Identifier{schema}.Sanitize()+".")
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// Validate reports every problem with the configuration.
func (c *config) Validate() error {
	var errs []error
	if !schemaRE.MatchString(c.schema) {
		errs = append(errs, fmt.Errorf("catga: pgstore: invalid schema name %q", c.schema))
	}
	if c.log == nil {
		errs = append(errs, errors.New("catga: pgstore: nil logger"))
	}
	if c.lockTimeout <= 0 {
		errs = append(errs, errors.New("catga: pgstore: migration lock timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Store is an event store, outbox and inbox in one PostgreSQL schema. It
// implements [eventstore.Store], [eventstore.SnapshotStore],
// [eventstore.Outbox] and [inbox.Inbox] for [pgx.Tx]. It does not own the
// pool: closing the pool is the caller's job.
type Store struct {
	pool    *pgxpool.Pool
	reg     *eventstore.Registry
	cfg     config
	channel string
	q       queries

	local         wakers
	notifyPending atomic.Bool
}

var (
	_ eventstore.Store           = (*Store)(nil)
	_ eventstore.SnapshotStore   = (*Store)(nil)
	_ eventstore.Outbox          = (*Store)(nil)
	_ eventstore.OutboxInspector = (*Store)(nil)
	_ inbox.Inbox[pgx.Tx]        = (*Store)(nil)
	_ inbox.Pruner               = (*Store)(nil)
)

// New returns a store over pool, creating its schema and applying
// migrations first (unless [WithoutMigrations]). reg maps event and snapshot
// types.
func New(ctx context.Context, pool *pgxpool.Pool, reg *eventstore.Registry, opts ...Option) (*Store, error) {
	cfg := config{schema: DefaultSchema, migrate: true, notifyInterval: 20 * time.Millisecond, lockTimeout: time.Minute, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if pool == nil || reg == nil {
		return nil, errors.New("catga: pgstore: nil pool or registry")
	}
	s := &Store{pool: pool, reg: reg, cfg: cfg, channel: "catga_outbox_" + cfg.schema}
	s.q = newQueries(pgx.Identifier{cfg.schema}.Sanitize()+".", !cfg.noOutbox)
	if cfg.migrate {
		if err := s.migrate(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Pool returns the store's pool, e.g. for a service's own tables.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the store's schema name.
func (s *Store) Schema() string { return s.cfg.schema }

func (s *Store) migrate(ctx context.Context) error {
	// CREATE SCHEMA IF NOT EXISTS is not safe against a concurrent creator
	// (unique violation on the catalog), so serialise creators on a lock.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('catga.schema.' || $1, 0))`, s.cfg.schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.cfg.schema}.Sanitize())
		return err
	})
	if err != nil {
		return fmt.Errorf("catga: pgstore: create schema %q: %w", s.cfg.schema, err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	// The migrations table lives in the service's schema, and golang-migrate
	// derives its advisory lock id from database, schema and table: peers of
	// one service serialise, different services do not block each other.
	drv, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{SchemaName: s.cfg.schema, MigrationsTable: "schema_migrations"})
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("catga: pgstore: migrate: %w", err)
	}
	defer func() { _ = drv.Close() }() // closes db too
	if err := sqlmigrate.Up(migrations, "migrations", pgx.Identifier{s.cfg.schema}.Sanitize()+".", drv, "pgx5", s.cfg.lockTimeout); err != nil {
		return err
	}
	s.cfg.log.Debug("catga: pgstore: migrated", "schema", s.cfg.schema)
	return nil
}

// Append implements [eventstore.Store].
func (s *Store) Append(ctx context.Context, streamID string, expectedVersion int64, events []eventstore.Event, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	recs, err := eventstore.Prepare(ctx, s.reg, streamID, expectedVersion, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	o := eventstore.ResolveAppendOptions(opts)
	var res eventstore.AppendResult
	if o.InboxConsumer == "" {
		res, err = s.appendFast(ctx, streamID, expectedVersion, recs)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			res, err = s.appendTx(ctx, tx, streamID, expectedVersion, recs, o)
			return err
		})
	}
	if err == nil {
		s.committed()
	}
	return res, err
}

// appendFast appends in one statement, one round trip, committed on its own:
// the common case. An inbox record must roll back with a refused append, so
// appends with one take the transaction path.
func (s *Store) appendFast(ctx context.Context, streamID string, expected int64, recs []eventstore.Record) (eventstore.AppendResult, error) {
	q := s.q.fastExpected
	switch expected {
	case eventstore.NoStream:
		q = s.q.fastNew
	case eventstore.Any:
		q = s.q.fastAny
	}
	n := len(recs)
	ids, types, data, meta := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range recs {
		ids[i], types[i], data[i], meta[i] = r.ID, r.Type, string(r.Data), eventstore.EncodeTrace(r.Metadata)
	}
	rows, err := s.pool.Query(ctx, q, streamID, expected, int64(n), ids, types, data, recs[0].CorrelationID, recs[0].CausationID,
		eventstore.EncodeTrace(recs[0].Trace), meta)
	if err != nil {
		return eventstore.AppendResult{}, wrap("append", err)
	}
	var version *int64
	k := 0
	for rows.Next() {
		var pos, ver *int64
		var at *time.Time
		if err := rows.Scan(&version, &pos, &ver, &at); err != nil {
			rows.Close()
			return eventstore.AppendResult{}, wrap("append", err)
		}
		if pos != nil && k < n {
			recs[k].Position, recs[k].Version, recs[k].RecordedAt = *pos, *ver, *at
			k++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, wrap("append", err)
	}
	if version == nil {
		return eventstore.AppendResult{}, s.refused(ctx, s.pool, streamID, expected)
	}
	if k != n {
		return eventstore.AppendResult{}, fmt.Errorf("catga: pgstore: append: %d of %d events reported", k, n)
	}
	return eventstore.AppendResult{Version: *version, Records: recs}, nil
}

// AppendTx is Append inside the caller's transaction, typically the one
// [Store.Process] passes to an inbox effect (Process wakes the relays when it
// commits). The outbox entries take effect when tx commits; a caller that
// commits its own transaction calls [Store.Committed] after, or relays find
// the entries at their next poll.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, streamID string, expectedVersion int64, events []eventstore.Event, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	recs, err := eventstore.Prepare(ctx, s.reg, streamID, expectedVersion, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	// A savepoint keeps a refused append from aborting the caller's
	// transaction.
	var res eventstore.AppendResult
	err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		var err error
		res, err = s.appendTx(ctx, sp, streamID, expectedVersion, recs, eventstore.ResolveAppendOptions(opts))
		return err
	})
	return res, err
}

func (s *Store) appendTx(ctx context.Context, tx pgx.Tx, streamID string, expected int64, recs []eventstore.Record, o eventstore.AppendOptions) (eventstore.AppendResult, error) {
	if err := s.recordInbox(ctx, tx, o); err != nil {
		return eventstore.AppendResult{}, err
	}
	version, streamTx, err := s.claimStream(ctx, tx, streamID, expected, int64(len(recs)))
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.insertEvents(ctx, tx, recs, version, streamTx); err != nil {
		return eventstore.AppendResult{}, err
	}
	return eventstore.AppendResult{Version: version, Records: recs}, nil
}

// recordInbox records the append's inbox entry, if it has one, or returns
// inbox.ErrDuplicate.
func (s *Store) recordInbox(ctx context.Context, tx pgx.Tx, o eventstore.AppendOptions) error {
	if o.InboxConsumer == "" {
		return nil
	}
	tag, err := tx.Exec(ctx, s.q.inboxInsert, o.InboxConsumer, o.InboxMessageID)
	if err != nil {
		return wrap("inbox", err)
	}
	if tag.RowsAffected() == 0 {
		return inbox.ErrDuplicate
	}
	return nil
}

// claimStream locks the stream's row and advances its version by n if it is
// at expected, returning the new version and the stream's feed tx (text of
// an xid8); a [*eventstore.ConflictError] or ErrStreamDeleted if not.
func (s *Store) claimStream(ctx context.Context, tx pgx.Tx, streamID string, expected, n int64) (int64, string, error) {
	var version int64
	var streamTx string
	var row pgx.Row
	switch expected {
	case eventstore.Any:
		row = tx.QueryRow(ctx, s.q.streamAny, streamID, n)
	case eventstore.NoStream:
		row = tx.QueryRow(ctx, s.q.streamNew, streamID, n)
	default:
		row = tx.QueryRow(ctx, s.q.streamUpdate, streamID, expected, expected+n)
	}
	err := row.Scan(&version, &streamTx)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", s.refused(ctx, tx, streamID, expected)
	}
	if err != nil {
		return 0, "", wrap("append", err)
	}
	return version, streamTx, nil
}

// insertEvents writes recs, one stream's events ending at version, with
// their outbox entries, and fills in their versions, positions and times.
func (s *Store) insertEvents(ctx context.Context, tx pgx.Tx, recs []eventstore.Record, version int64, feedTx string) error {
	n := int64(len(recs))
	ids := make([]string, n)
	versions := make([]int64, n)
	types := make([]string, n)
	data := make([]string, n)
	meta := make([]string, n)
	for i := range recs {
		r := &recs[i]
		r.Version = version - n + int64(i) + 1
		ids[i], versions[i], types[i], data[i], meta[i] = r.ID, r.Version, r.Type, string(r.Data), eventstore.EncodeTrace(r.Metadata)
	}
	rows, err := tx.Query(ctx, s.q.insertEvents, ids, recs[0].StreamID, versions, types, data, recs[0].CorrelationID, recs[0].CausationID,
		eventstore.EncodeTrace(recs[0].Trace), feedTx, meta)
	if err != nil {
		return wrap("append", err)
	}
	k := 0
	for rows.Next() {
		if k < len(recs) {
			if err := rows.Scan(&recs[k].Position, &recs[k].RecordedAt); err != nil {
				rows.Close()
				return wrap("append", err)
			}
		}
		k++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return wrap("append", err)
	}
	return nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// refused explains a refused append: the stream is deleted, or not at the
// expected version.
func (s *Store) refused(ctx context.Context, q querier, streamID string, expected int64) error {
	var actual int64
	var deleted bool
	if err := q.QueryRow(ctx, s.q.streamVersion, streamID).Scan(&actual, &deleted); err != nil {
		return wrap("append", err)
	}
	return eventstore.Refused(streamID, expected, actual, deleted)
}

// DeleteStream implements [eventstore.StreamDeleter].
func (s *Store) DeleteStream(ctx context.Context, streamID string, expectedVersion int64) error {
	if streamID == "" || expectedVersion < eventstore.Any {
		return fmt.Errorf("%w: delete %q at %d", eventstore.ErrInvalidArgument, streamID, expectedVersion)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.q.deleteStream, streamID, expectedVersion)
		if err != nil {
			return wrap("delete stream", err)
		}
		if tag.RowsAffected() == 0 && expectedVersion <= eventstore.NoStream {
			if tag, err = tx.Exec(ctx, s.q.tombstoneNew, streamID); err != nil {
				return wrap("delete stream", err)
			}
		}
		if tag.RowsAffected() == 0 {
			return s.refused(ctx, tx, streamID, expectedVersion)
		}
		if _, err := tx.Exec(ctx, s.q.deleteSnapshot, streamID); err != nil {
			return wrap("delete stream", err)
		}
		return nil
	})
}

func wrap(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && strings.Contains(pe.ConstraintName, "events_id") {
		return catga.Permanent(fmt.Errorf("catga: pgstore: %s: duplicate event id: %w", op, err))
	}
	return fmt.Errorf("catga: pgstore: %s: %w", op, err)
}
