package rediscluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/internal/rediscluster"
)

func TestClusterFailover(t *testing.T) {
	c := rediscluster.Start(t, rediscluster.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Client(nil)
	defer cl.Close()
	if err := cl.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old, err := c.KillMaster(ctx, "k")
	if err != nil {
		t.Fatal(err)
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
}
