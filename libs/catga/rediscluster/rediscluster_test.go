package rediscluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/rediscluster"
)

func TestClusterFailover(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Client(nil)
	defer func() { _ = cl.Close() }()
	if err := cl.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// Graceful failover: the replica takes over and keeps the data.
	before, err := c.MasterFor(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := c.Failover(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if promoted == before {
		t.Fatalf("Failover kept %s as master", before.Addr)
	}

	// Hard failure: SIGKILL the master; its replica is elected.
	old, err := c.KillMaster(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if old != promoted {
		t.Fatalf("killed %s, want the master %s", old.Addr, promoted.Addr)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("%v\n%s", err, c.Logs())
	}
	n, err := c.MasterFor(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if n == old {
		t.Fatalf("master for k is still the killed node %s", old.Addr)
	}
	if len(c.Addrs()) != 5 {
		t.Fatalf("%d live nodes, want 5", len(c.Addrs()))
	}
	if v, err := cl.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("k after failovers = %q, %v", v, err)
	}
}
