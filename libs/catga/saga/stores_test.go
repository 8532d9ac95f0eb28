package saga_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga/internal/natstest"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
	sredis "github.com/catga-go/catga/libs/catga/sagastore/redis"
	"github.com/catga-go/catga/libs/catga/sagastore/storetest"
)

// storeCase is a store engine tests run against.
type storeCase struct {
	name string
	open func(t *testing.T) sagastore.Store
}

// testStores are the stores engine tests run against: memory, NATS KV on an
// embedded server, and the package's Redis Cluster (skipped under -short).
// Every store they open is checked for orphaned sagas when the test ends,
// after its engines closed (cleanups run last-registered first).
func testStores() []storeCase {
	return []storeCase{
		{"memory", checkedMemory},
		{"natskv", func(t *testing.T) sagastore.Store {
			_, _, js := natstest.JetStream(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := natskv.New(ctx, js, natskv.Config{Bucket: "engine_" + uuid.NewString()[:8]})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { storetest.CheckRecoverable(t, s) })
			return s
		}},
		{"redis-cluster", func(t *testing.T) sagastore.Store {
			rdb := clusterClient(sharedCluster(t).Addrs())
			s := sredis.New(rdb, sredis.WithPrefix("engine-"+uuid.NewString()[:8]))
			t.Cleanup(func() { _ = s.Close(); _ = rdb.Close() })
			t.Cleanup(func() { storetest.CheckRecoverable(t, s) })
			return s
		}},
	}
}

// checkedMemory returns a memory store checked for orphaned sagas when t ends.
func checkedMemory(t *testing.T) sagastore.Store {
	s := memory.New()
	t.Cleanup(func() { storetest.CheckRecoverable(t, s) })
	return s
}

// errOutage is what a store answers while it is down.
var errOutage = errors.New("injected store outage")

// faulty wraps a store with an outage switch: while down, every call fails
// as a real outage would (connection refused, timeouts).
type faulty struct {
	sagastore.Store
	down    atomic.Bool
	updates atomic.Int64 // Update calls refused by the outage
	// afterGet, a func(sagastore.Record), runs after each successful Get,
	// before the caller acts on what it read.
	afterGet atomic.Value
	// downIDs holds saga ids whose records cannot be written (a partial
	// outage: their shard is unreachable).
	downIDs sync.Map
	// loseReply holds saga ids whose next successful Update is answered
	// with an error, as when the reply is lost (once per Store call).
	loseReply sync.Map
}

func (f *faulty) fail(op string) error {
	if f.down.Load() {
		return fmt.Errorf("%s: %w", op, errOutage)
	}
	return nil
}

func (f *faulty) Create(ctx context.Context, rec sagastore.Record) (uint64, error) {
	if err := f.fail("create"); err != nil {
		return 0, err
	}
	return f.Store.Create(ctx, rec)
}

func (f *faulty) Get(ctx context.Context, id string) (sagastore.Record, error) {
	if err := f.fail("get"); err != nil {
		return sagastore.Record{}, err
	}
	rec, err := f.Store.Get(ctx, id)
	if h, _ := f.afterGet.Load().(func(sagastore.Record)); h != nil && err == nil {
		h(rec)
	}
	return rec, err
}

func (f *faulty) Update(ctx context.Context, rec sagastore.Record) (uint64, error) {
	if _, down := f.downIDs.Load(rec.ID); down {
		return 0, fmt.Errorf("update %s: %w", rec.ID, errOutage)
	}
	if err := f.fail("update"); err != nil {
		f.updates.Add(1)
		return 0, err
	}
	v, err := f.Store.Update(ctx, rec)
	if _, lose := f.loseReply.LoadAndDelete(rec.ID); lose && err == nil {
		return 0, fmt.Errorf("update %s: reply lost: %w", rec.ID, errOutage)
	}
	return v, err
}

func (f *faulty) Due(ctx context.Context, now time.Time, limit int) ([]sagastore.Entry, error) {
	if err := f.fail("due"); err != nil {
		return nil, err
	}
	return f.Store.Due(ctx, now, limit)
}

func (f *faulty) Index(ctx context.Context, e sagastore.Entry) error {
	if err := f.fail("index"); err != nil {
		return err
	}
	return f.Store.Index(ctx, e)
}

func (f *faulty) Unindex(ctx context.Context, entries ...sagastore.Entry) error {
	if err := f.fail("unindex"); err != nil {
		return err
	}
	return f.Store.Unindex(ctx, entries...)
}
