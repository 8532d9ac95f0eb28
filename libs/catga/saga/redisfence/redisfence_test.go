package redisfence_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/rediscluster"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/fencetest"
	"github.com/catga-go/catga/libs/catga/saga/redisfence"
)

// The Redis Cluster is shared by the tests, started by the first that
// needs it.
var (
	clusterOnce sync.Once
	cluster     *rediscluster.Cluster
	clusterErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Close()
	}
	os.Exit(code)
}

// servers are the Redis deployments every test runs on.
var servers = []struct {
	name   string
	client func(t *testing.T) redis.UniversalClient
}{
	{"single node", func(t *testing.T) redis.UniversalClient { return redistest.Start(t) }},
	{"cluster", func(t *testing.T) redis.UniversalClient {
		if testing.Short() {
			t.Skip("needs redis-server (a 6-node Redis Cluster): skipped under -short")
		}
		clusterOnce.Do(func() { cluster, clusterErr = rediscluster.New(rediscluster.Config{}) })
		if clusterErr != nil {
			t.Fatalf("redis cluster: %v", clusterErr)
		}
		rdb := cluster.Client(&redis.ClusterOptions{
			DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		})
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}},
}

// forEachServer runs test on a fresh fence over each server.
func forEachServer(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient, f *redisfence.Fence)) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			rdb := s.client(t)
			test(t, rdb, redisfence.New(rdb, "fence-"+uuid.NewString()[:8], time.Minute, saga.WithReservation(fencetest.Reservation)))
		})
	}
}

// TestConformance: the Redis fence passes the fence suite on a real
// redis-server and on a Redis Cluster, both as the guards use it (Admit,
// the effect, Commit or Abort) and through Apply.
func TestConformance(t *testing.T) {
	forEachServer(t, func(t *testing.T, rdb redis.UniversalClient, _ *redisfence.Fence) {
		newFence := func() *redisfence.Fence {
			return redisfence.New(rdb, "fencetest-"+uuid.NewString()[:8], time.Minute, saga.WithReservation(fencetest.Reservation))
		}
		t.Run("Admit", func(t *testing.T) {
			fencetest.Run(t, func(*testing.T) fencetest.Subject { return fencetest.ForFence(newFence()) })
		})
		t.Run("Apply", func(t *testing.T) {
			fencetest.Run(t, func(*testing.T) fencetest.Subject { return applySubject(rdb, newFence()) })
		})
	})
}

// applySubject runs the suite's effects through f.Apply. Each effect that
// succeeds queues an increment of its key's count in the saga's ledger
// hash: the count is what committed.
func applySubject(rdb redis.UniversalClient, f *redisfence.Fence) fencetest.Subject {
	return fencetest.Subject{
		Apply: func(ctx context.Context, op saga.Op, effect func(context.Context) error) (saga.Admission, error) {
			return f.Apply(ctx, op, func(tx redis.Pipeliner) error {
				if err := effect(ctx); err != nil {
					return err
				}
				tx.HIncrBy(ctx, ledger(f, op), ledgerField(op), 1)
				return nil
			})
		},
		Fence: f,
		Committed: func(ctx context.Context, op saga.Op) (int, error) {
			n, err := rdb.HGet(ctx, ledger(f, op), ledgerField(op)).Int()
			if errors.Is(err, redis.Nil) {
				return 0, nil
			}
			return n, err
		},
	}
}

// ledger is a key in op's saga's hash slot, as Apply requires on a cluster.
func ledger(f *redisfence.Fence, op saga.Op) string { return f.Key(op.Saga) + ":ledger" }

func ledgerField(op saga.Op) string {
	if op.Compensation {
		return op.Key + "/undo"
	}
	return op.Key
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// apply calls f.Apply, failing t if a panic escapes it.
func apply(t *testing.T, ctx context.Context, f *redisfence.Fence, op saga.Op, effect func(tx redis.Pipeliner) error) (adm saga.Admission, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Apply(%+v) let the effect's panic through: %v", op, p)
		}
	}()
	return f.Apply(ctx, op, effect)
}

// TestExpires: a fence hash created by a lone Admit or Apply expires (the
// expiry is set after the writes, not before the hash exists).
func TestExpires(t *testing.T) {
	forEachServer(t, func(t *testing.T, rdb redis.UniversalClient, f *redisfence.Fence) {
		ctx := ctxT(t)
		check := func(how string, op saga.Op) {
			t.Helper()
			if ttl := rdb.PTTL(ctx, f.Key(op.Saga)).Val(); ttl <= 0 || ttl > time.Minute {
				t.Fatalf("fence hash after a lone %s(%+v) has TTL %v, want about 1m", how, op, ttl)
			}
		}
		for _, op := range []saga.Op{{Key: "k", Epoch: 3, Token: "t"}, {Key: "k", Epoch: 1, Compensation: true}} {
			op.Saga = uuid.NewString()
			if _, err := f.Admit(ctx, op); err != nil {
				t.Fatal(err)
			}
			check("Admit", op)
			op.Saga = uuid.NewString()
			if _, err := apply(t, ctx, f, op, func(redis.Pipeliner) error { return nil }); err != nil {
				t.Fatal(err)
			}
			check("Apply", op)
		}
		op := saga.Op{Saga: uuid.NewString(), Key: "k", Epoch: 2} // refused by a failing effect: only its epoch is recorded
		if _, err := apply(t, ctx, f, op, func(redis.Pipeliner) error { return errors.New("no") }); err == nil {
			t.Fatal("Apply with a failing effect succeeded")
		}
		check("failed Apply", op)
	})
}
