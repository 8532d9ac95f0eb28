package peer

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
	"github.com/catga-go/catga/libs/catga/tracing"
	"github.com/catga-go/catga/libs/catga/transport"
)

// EventStore is the service's event store: PostgreSQL when
// CATGA_DATABASE_URL is set, else a SQLite file. Its events reach NATS
// through the transactional outbox, which the peer relays (on
// catga.evt.<event type name>). The embedded interfaces are the store's
// own; the methods add what services need without depending on the
// backend's transaction type.
type EventStore struct {
	eventstore.Store
	eventstore.SnapshotStore
	eventstore.StreamDeleter
	eventstore.Feed
	eventstore.Checkpoints
	eventstore.OutboxInspector

	b      backend
	tracer *tracing.Tracer
}

// backend is what the peer needs of pgstore and sqlitestore alike.
type backend interface {
	eventstore.Store
	eventstore.SnapshotStore
	eventstore.StreamDeleter
	eventstore.Feed
	eventstore.Checkpoints
	eventstore.Outbox
	eventstore.OutboxInspector
	inbox.Pruner
	storefence.Backend
	// process is inbox.Inbox's Process with the transaction's store.
	process(ctx context.Context, consumer, messageID string, effect func(ctx context.Context, es eventstore.Store) error) error
	ping(ctx context.Context) error
	close()
	kind() string
}

// openEventStore opens the store cfg names, migrating it.
func openEventStore(ctx context.Context, cfg Config, reg *eventstore.Registry, tp trace.TracerProvider, log *slog.Logger) (*EventStore, error) {
	var b backend
	if cfg.DatabaseURL != "" {
		pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("catga: %s: %s: %w", cfg.Service, EnvDatabaseURL, err)
		}
		s, err := pgstore.New(ctx, pool, reg, pgstore.WithSchema(schemaOf(cfg.Service)), pgstore.WithLogger(log))
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("catga: %s: PostgreSQL event store: %w", cfg.Service, err)
		}
		b = pgBackend{s}
	} else {
		if dir := filepath.Dir(cfg.SQLitePath); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("catga: %s: %s: %w", cfg.Service, EnvSQLitePath, err)
			}
		}
		s, err := sqlitestore.Open(ctx, cfg.SQLitePath, reg, sqlitestore.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("catga: %s: SQLite event store %s: %w", cfg.Service, cfg.SQLitePath, err)
		}
		b = sqliteBackend{s}
	}
	return &EventStore{Store: b, SnapshotStore: b, StreamDeleter: b, Feed: b, Checkpoints: b, OutboxInspector: b,
		b: b, tracer: tracing.New(tracing.WithTracerProvider(tp))}, nil
}

// schemaOf is the PostgreSQL schema of service: its name in lower case,
// '-' as '_'.
func schemaOf(service string) string {
	return strings.ReplaceAll(strings.ToLower(service), "-", "_")
}

// Backend names the store in use: "postgres" or "sqlite".
func (e *EventStore) Backend() string { return e.b.kind() }

// Once runs effect at most once per (consumer, messageID): in one
// transaction with the inbox record, effect's appends going through es
// (bound to that transaction: Append, AppendMulti, and the aggregate
// helpers given es). It returns [inbox.ErrDuplicate], running nothing,
// when the message was already processed; effect's error rolls everything
// back.
//
// es reads (Load, ReadAll) outside the transaction; its appends still
// check the expected version, so a concurrent writer shows as a conflict.
func (e *EventStore) Once(ctx context.Context, consumer, messageID string, effect func(ctx context.Context, es eventstore.Store) error) error {
	return e.b.process(ctx, consumer, messageID, effect)
}

// InboxHandler returns a durable handler (for Transport.Consume) that
// applies each message once per consumer: see [inbox.Handler], with effect
// given the transaction-bound store as in [EventStore.Once]. Each delivery
// is traced as a consumer span in the trace of the request that appended
// the event.
func (e *EventStore) InboxHandler(consumer string, effect func(ctx context.Context, es eventstore.Store, d transport.Delivery) error, opts ...inbox.HandlerOption) transport.DurableHandler {
	h := inbox.Handler(storeInbox{e.b}, consumer, effect, opts...)
	return func(ctx context.Context, d transport.Delivery) error {
		ctx, span := e.tracer.StartReceive(ctx, trace.SpanKindConsumer, d.Subject, d.Header.Get(inbox.HeaderMsgID), d.Header)
		err := h(ctx, d)
		tracing.End(span, err)
		return err
	}
}

// Subscribe returns a catch-up subscription named name over the store's
// feed (a read model's projection): run it with [Peer.Go]. It wakes at
// this store's commits and polls for other peers'.
func (e *EventStore) Subscribe(name string, handle func(ctx context.Context, rec eventstore.Record) error, opts ...eventstore.SubscriptionOption) (*eventstore.Subscription, error) {
	return eventstore.NewSubscription(e, e, name, handle, opts...)
}

// Pool is the PostgreSQL pool, for a service's own tables; nil on SQLite.
func (e *EventStore) Pool() *pgxpool.Pool {
	if p, ok := e.b.(pgBackend); ok {
		return p.Pool()
	}
	return nil
}

// DB is the SQLite database, for a service's own tables; nil on
// PostgreSQL.
func (e *EventStore) DB() *sql.DB {
	if s, ok := e.b.(sqliteBackend); ok {
		return s.DB()
	}
	return nil
}

// Ping checks that the database answers.
func (e *EventStore) Ping(ctx context.Context) error { return e.b.ping(ctx) }

// Fence returns the saga fence kept in this store's database: a
// participant applies each saga step once, its appends committed in one
// transaction with the fence record (see [storefence.Fence.Apply]).
func (e *EventStore) Fence(opts ...saga.FenceOption) (*storefence.Fence, error) {
	return storefence.New(e.b, opts...)
}

// Listen reports commits of this store (see [eventstore.Outbox]), so a
// subscription over the EventStore itself wakes at them rather than at its
// next poll.
func (e *EventStore) Listen(ctx context.Context) (eventstore.OutboxListener, error) {
	return e.b.Listen(ctx)
}

// storeInbox is an inbox.Inbox whose transaction is an eventstore.Store
// bound to it, so services need not name pgx.Tx or *sql.Tx.
type storeInbox struct{ b backend }

func (s storeInbox) Process(ctx context.Context, consumer, messageID string, effect func(ctx context.Context, es eventstore.Store) error) error {
	return s.b.process(ctx, consumer, messageID, effect)
}

// txStore is a store appending in tx (see [EventStore.Once]).
type txStore[Tx any] struct {
	eventstore.TxStore[Tx]
	tx Tx
}

func (s txStore[Tx]) Append(ctx context.Context, streamID string, expectedVersion int64, events []eventstore.Event, opts ...eventstore.AppendOption) (eventstore.AppendResult, error) {
	return s.AppendTx(ctx, s.tx, streamID, expectedVersion, events, opts...)
}

func (s txStore[Tx]) AppendMulti(ctx context.Context, appends []eventstore.StreamAppend, opts ...eventstore.AppendOption) ([]eventstore.AppendResult, error) {
	return s.AppendMultiTx(ctx, s.tx, appends, opts...)
}

type pgBackend struct{ *pgstore.Store }

func (b pgBackend) process(ctx context.Context, consumer, messageID string, effect func(context.Context, eventstore.Store) error) error {
	return b.Process(ctx, consumer, messageID, func(ctx context.Context, tx pgx.Tx) error {
		return effect(ctx, txStore[pgx.Tx]{b.Store, tx})
	})
}

func (b pgBackend) ping(ctx context.Context) error { return b.Pool().Ping(ctx) }
func (b pgBackend) close()                         { b.Pool().Close() }
func (pgBackend) kind() string                     { return "postgres" }

type sqliteBackend struct{ *sqlitestore.Store }

func (b sqliteBackend) process(ctx context.Context, consumer, messageID string, effect func(context.Context, eventstore.Store) error) error {
	return b.Process(ctx, consumer, messageID, func(ctx context.Context, tx *sql.Tx) error {
		return effect(ctx, txStore[*sql.Tx]{b.Store, tx})
	})
}

func (b sqliteBackend) ping(ctx context.Context) error { return b.DB().PingContext(ctx) }
func (b sqliteBackend) close()                         { _ = b.Close() }
func (sqliteBackend) kind() string                     { return "sqlite" }

var (
	_ backend             = pgBackend{}
	_ backend             = sqliteBackend{}
	_ eventstore.Listener = (*EventStore)(nil)
)
