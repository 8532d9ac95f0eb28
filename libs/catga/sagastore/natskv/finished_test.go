package natskv_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga/internal/natstest"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/natskv"
)

func listed(t *testing.T, ctx context.Context, s sagastore.Store, state sagastore.State) []string {
	t.Helper()
	recs, err := s.List(ctx, state, 0)
	if err != nil {
		t.Fatalf("List(%s): %v", state, err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// TestLegacyFinishedSagasListed: records that finished before the store
// kept a finished index are indexed by a one-time migration on the first
// listing (those past the retention excepted), and the migration does not
// run again.
func TestLegacyFinishedSagasListed(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := natskv.Config{Bucket: "sagas_legacy"}
	s, err := natskv.New(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	plant := func(state sagastore.State, finished time.Time) string {
		rec := sagastore.Record{ID: uuid.NewString(), Name: "legacy", State: state, Epoch: 1, CreatedAt: finished, UpdatedAt: finished}
		b, err := sagastore.Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutRaw(ctx, rec.ID, b); err != nil { // as the old store wrote it: no index entry
			t.Fatal(err)
		}
		return rec.ID
	}
	done := plant(sagastore.StateCompleted, time.Now().Add(-time.Hour))
	comp := plant(sagastore.StateCompensated, time.Now().Add(-time.Hour))
	plant(sagastore.StateCompleted, time.Now().Add(-8*24*time.Hour)) // past the default retention
	plant(sagastore.StateRunning, time.Now())
	if got := listed(t, ctx, s, sagastore.StateCompleted); !slices.Equal(got, []string{done}) {
		t.Fatalf("List(completed) = %v, want [%s]", got, done)
	}
	if got := listed(t, ctx, s, sagastore.StateCompensated); !slices.Equal(got, []string{comp}) {
		t.Fatalf("List(compensated) = %v, want [%s]", got, comp)
	}
	// Another peer's store finds the marker and does not read every record
	// again: a record planted now stays unlisted.
	plant(sagastore.StateCompleted, time.Now())
	other, err := natskv.New(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed(t, ctx, other, sagastore.StateCompleted); !slices.Equal(got, []string{done}) {
		t.Fatalf("List(completed) on another store = %v, want [%s] (no second migration)", got, done)
	}
}

// TestFinishedIndexExpires: the server drops finished-index entries once
// their retention has passed (each key is created with it as TTL), so the
// index does not grow with every saga ever run.
func TestFinishedIndexExpires(t *testing.T) {
	_, _, js := natstest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const bucket = "sagas_expiry"
	s, err := natskv.New(ctx, js, natskv.Config{Bucket: bucket, Retention: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		rec := sagastore.Record{ID: uuid.NewString(), Name: "x", State: sagastore.StateRunning, Epoch: 1, LeaseUntil: time.Now()}
		v, err := s.Create(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		rec.Version, rec.State = v, sagastore.StateCompleted
		if _, err := s.Update(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := js.Stream(ctx, "KV_"+bucket+"_fin")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil || info.State.Msgs != 5 {
		t.Fatalf("finished index holds %v messages (%v), want 5", info.State.Msgs, err)
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("finished index still holds %d messages long after the 1s retention", info.State.Msgs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
