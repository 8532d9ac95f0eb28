package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
)

// TestPublishEndsBeforeTheLease: a relay whose publish hangs is stopped
// before its outbox lease expires, so the next relay to take the lease
// never publishes a stream while the first still does. The entry is
// claimable again right after (the lease was released, not left to expire).
func TestPublishEndsBeforeTheLease(t *testing.T) {
	const lease = time.Second
	s := open(t, filepath.Join(t.TempDir(), "lease.db"), eventstoretest.NewRegistry(), sqlitestore.WithLeaseTimeout(lease))
	ctx := ctxT(t)
	if _, err := s.Append(ctx, "s", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{Owner: "ann"}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var hung time.Duration
	_, err := s.Claim(ctx, "relay-a", 10, func(ctx context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
		select { // a broker that never answers; bounded so the test ends without the guard too
		case <-ctx.Done():
		case <-time.After(3 * lease):
		}
		hung = time.Since(start)
		return eventstore.Outcome{}, ctx.Err()
	})
	if err == nil {
		t.Fatal("a publish stopped at the lease's bound reported no error")
	}
	if hung >= lease {
		t.Fatalf("publish ran %s, past the %s lease another relay may take", hung, lease)
	}
	var claimed int
	res, err := s.Claim(ctx, "relay-b", 10, func(_ context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
		claimed = len(entries)
		var out eventstore.Outcome
		for _, e := range entries {
			out.Published = append(out.Published, e.Position)
		}
		return out, nil
	})
	if err != nil || claimed != 1 || res.Published != 1 {
		t.Fatalf("next relay claimed %d, published %d (err %v); want the entry again at once", claimed, res.Published, err)
	}
}
