package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
	sagaredis "github.com/catga-go/catga/libs/catga/sagastore/redis"
)

// sagaStore is the saga store the engine runs on, with its health check
// and its release.
type sagaStore struct {
	sagastore.Store
	kind  string // "redis" or "nats-kv"
	ping  func(ctx context.Context) error
	close func()
}

// openSagaStore opens the store cfg names: Redis (one node or a cluster)
// when CATGA_REDIS_ADDRS is set, else JetStream KV.
//
// The KV store gets a NATS connection of its own, not the transport's:
// shutdown drains the transport before the engine hands its leases off,
// and the hand-off writes to the store, so the store's connection must
// outlive the transport's.
func openSagaStore(ctx context.Context, cfg Config, log *slog.Logger) (*sagaStore, error) {
	if len(cfg.RedisAddrs) > 0 {
		// Short socket timeouts and a single dial attempt: a saga store
		// command takes a millisecond, and go-redis' defaults (dial 5 s,
		// 5 dial attempts, read 3 s) made every write after a master died
		// wait seconds on the dead node, the slot-map reload included (it
		// may ask the dead node first), so the write outage outlasted the
		// failover by seconds (e2e TestScenarioKillRedisMaster). The
		// cluster client still moves a failing command to another node.
		c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: cfg.RedisAddrs, ClientName: cfg.Service + "-sagas",
			Username: cfg.RedisUsername, Password: cfg.RedisPassword,
			DialTimeout: redisDialTimeout, DialerRetries: 1, ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout})
		s := sagaredis.New(c, sagaredis.WithPrefix("catga:"+cfg.Service), sagaredis.WithLogger(log))
		return &sagaStore{Store: s, kind: "redis",
			ping:  func(ctx context.Context) error { return c.Ping(ctx).Err() },
			close: func() { _ = s.Close(); _ = c.Close() },
		}, nil
	}
	// As the transport's connection: a dead server is left within 750 ms,
	// and given several URLs only those are used (natstransport.Config).
	opts := []nats.Option{
		nats.Name(cfg.Service + "-sagas"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(150 * time.Millisecond), nats.PingInterval(250 * time.Millisecond), nats.MaxPingsOutstanding(2),
		nats.Timeout(2 * time.Second),
	}
	if len(cfg.NATSURLs) > 1 {
		opts = append(opts, nats.IgnoreDiscoveredServers())
	}
	nc, err := nats.Connect(strings.Join(cfg.NATSURLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("catga: %s: saga store connection: %w", cfg.Service, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("catga: %s: saga store: %w", cfg.Service, err)
	}
	// JetStream may still be starting (a fresh cluster elects its meta
	// leader): retry the bucket setup for a while.
	var s *natskv.Store
	deadline := time.Now().Add(15 * time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		s, err = natskv.New(actx, js, natskv.Config{Bucket: "catga_sagas_" + cfg.Service, Replicas: cfg.NATSReplicas})
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("catga: %s: saga store (NATS KV): %w", cfg.Service, err)
	}
	return &sagaStore{Store: s, kind: "nats-kv",
		ping: func(ctx context.Context) error {
			if !nc.IsConnected() {
				return errors.New("not connected to NATS")
			}
			return nc.FlushWithContext(ctx)
		},
		close: nc.Close,
	}, nil
}

// Socket timeouts of the saga store's Redis client.
const (
	redisDialTimeout = 500 * time.Millisecond
	redisIOTimeout   = time.Second
)

// sagaMetrics records each saga's outcome and duration when the
// transition that ends it (completed, compensated or stuck) is persisted.
func sagaMetrics(m metric.Meter) (saga.Hook, error) {
	outcomes, err1 := m.Int64Counter("catga.saga.outcomes",
		metric.WithDescription("Sagas finished by this peer, by saga name and final state."))
	durations, err2 := m.Float64Histogram("catga.saga.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from a saga's creation to its final state."))
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return func(ctx context.Context, p saga.Point, rec *saga.Record) {
		if p != saga.AfterPersist || (!rec.State.Final() && rec.State != sagastore.StateStuck) {
			return
		}
		attrs := metric.WithAttributes(attribute.String("saga", rec.Name), attribute.String("state", string(rec.State)))
		outcomes.Add(ctx, 1, attrs)
		durations.Record(ctx, rec.UpdatedAt.Sub(rec.CreatedAt).Seconds(), attrs)
	}, nil
}
