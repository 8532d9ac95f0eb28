package natstransport_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/transport/idempotency"
	"github.com/catga-go/catga/libs/catga/transport/idempotency/idempotencytest"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

func TestKVStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	var n atomic.Int64
	idempotencytest.Run(t, idempotencytest.Capabilities{Shared: true}, func(t *testing.T) func() idempotency.Store {
		bucket := fmt.Sprintf("IDEM_%d", n.Add(1)) // a fresh bucket per case
		return func() idempotency.Store {
			js, err := jetstream.New(connect(t, s.ClientURL()).Conn())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := natstransport.NewKVStore(ctx, js, natstransport.KVStoreConfig{Bucket: bucket, Storage: jetstream.MemoryStorage})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	})
}

// TestKVStoreBoundedByCount: a full bucket drops its oldest keys instead of
// refusing new claims.
func TestKVStoreBoundedByCount(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	js, err := jetstream.New(connect(t, s.ClientURL()).Conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := natstransport.NewKVStore(ctx, js, natstransport.KVStoreConfig{Bucket: "BOUNDED", MaxKeys: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		key := fmt.Sprint("k", i)
		if claimed, _, err := st.Claim(ctx, key, time.Minute); err != nil || !claimed {
			t.Fatalf("Claim %s = %v, %v: a full bucket must make room", key, claimed, err)
		}
		if err := st.Complete(ctx, key, []byte("r"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	info, err := js.Stream(ctx, "KV_BOUNDED")
	if err != nil {
		t.Fatal(err)
	}
	if msgs := info.CachedInfo().State.Msgs; msgs > 10 {
		t.Errorf("bucket holds %d messages, bound 10", msgs)
	}
}
