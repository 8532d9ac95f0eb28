package scenario

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/eventstore/pgembed"
	"github.com/catga-go/catga/libs/catga/rediscluster"
)

// Stores are a local 6-node Redis Cluster and a durable PostgreSQL
// server: the production topology's stores.
type Stores struct {
	rc *rediscluster.Cluster
	pg *pgembed.Server
	n  atomic.Int64
}

// ProductionStores starts them; Close stops them.
func ProductionStores(ctx context.Context) (*Stores, error) {
	rc, err := rediscluster.New(rediscluster.Config{})
	if err != nil {
		return nil, err
	}
	pg, err := pgembed.Start(ctx, pgembed.Config{Durable: true})
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &Stores{rc: rc, pg: pg}, nil
}

// Fresh empties the Redis Cluster, creates a new database and returns the
// peers' environment pointing at both (CATGA_REDIS_ADDRS,
// CATGA_DATABASE_URL): every run starts from nothing, as on the embedded
// stack.
func (s *Stores) Fresh(ctx context.Context) ([]string, error) {
	c := s.rc.Client(&redis.ClusterOptions{})
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return n.FlushAll(ctx).Err() })
	_ = c.Close()
	if err != nil {
		return nil, fmt.Errorf("catga: bench: flush the Redis Cluster: %w", err)
	}
	db := fmt.Sprintf("bench_%d", s.n.Add(1))
	conn, err := pgx.Connect(ctx, s.pg.URL("postgres"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return nil, fmt.Errorf("catga: bench: create database %s: %w", db, err)
	}
	return []string{"CATGA_REDIS_ADDRS=" + strings.Join(s.rc.Addrs(), ","), "CATGA_DATABASE_URL=" + s.pg.URL(db)}, nil
}

// Close stops both servers.
func (s *Stores) Close() {
	s.pg.Stop()
	s.rc.Close()
}
