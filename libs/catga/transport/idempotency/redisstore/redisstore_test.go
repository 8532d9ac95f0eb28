package redisstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
	"github.com/catga-go/catga/libs/catga/transport/idempotency/idempotencytest"
	"github.com/catga-go/catga/libs/catga/transport/idempotency/redisstore"
)

func TestRedis(t *testing.T) {
	client := redistest.Start(t)
	var n atomic.Int64
	idempotencytest.Run(t, idempotencytest.Capabilities{Shared: true}, func(*testing.T) func() idempotency.Store {
		prefix := fmt.Sprintf("t%d:", n.Add(1)) // a fresh key space per case
		return func() idempotency.Store { return redisstore.New(client, redisstore.WithPrefix(prefix)) }
	})
}
