package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// TestFinishedIndexTrimmedOnWrite: each write to a finished index removes
// up to trimBatch entries past the retention: the index stays bounded, in
// bounded steps.
func TestFinishedIndexTrimmedOnWrite(t *testing.T) {
	ctx := context.Background()
	const retention = 100 * time.Millisecond
	s := New(WithRetention(retention))
	finish := func(i int) {
		t.Helper()
		rec := sagastore.Record{ID: fmt.Sprint("s-", i), State: sagastore.StateRunning}
		v, err := s.Create(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		rec.Version, rec.State = v, sagastore.StateCompleted
		if _, err := s.Update(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	size := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.finished[sagastore.StateCompleted].entries)
	}
	const n = trimBatch + 6
	for i := range n {
		finish(i)
	}
	if got := size(); got != n {
		t.Fatalf("index holds %d entries, want %d", got, n)
	}
	time.Sleep(retention + 20*time.Millisecond) // all n are past the retention now
	finish(n)
	if got, want := size(), n-trimBatch+1; got != want {
		t.Fatalf("after one write past the retention the index holds %d entries, want %d", got, want)
	}
	finish(n + 1)
	if got := size(); got != 2 {
		t.Fatalf("after a second write the index holds %d entries, want 2", got)
	}
}
