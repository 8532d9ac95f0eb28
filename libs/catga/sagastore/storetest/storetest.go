package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// Harness tells the suite how to get stores and what they can do.
type Harness struct {
	// New returns an empty store isolated from every other store New
	// returned (e.g. a fresh key prefix or bucket).
	New func(t *testing.T) sagastore.Store
	Features
}

// Features are a store's capabilities; cases that need a missing one are
// skipped, saying why.
type Features struct {
	// Corrupt stores bytes that do not decode as a record under id in s;
	// nil when the store offers no way to (the Corrupt case is skipped).
	Corrupt func(t *testing.T, s sagastore.Store, id string)
	// Parallel: cases may run concurrently (each gets its own store).
	Parallel bool
	// Work returns a count of what s has done so far to answer reads
	// (backend requests, records looked at): anything that grows with
	// every record read. nil skips ListFinishedIndexed.
	Work func(s sagastore.Store) int64
	// NewWithRetention is New with a finished-index retention of d; nil
	// skips FinishedRetention.
	NewWithRetention func(t *testing.T, d time.Duration) sagastore.Store
}

// Case is one conformance case; each is exported so that a store's tests
// can run a single one.
type Case struct {
	Name string
	Run  func(t *testing.T, h Harness)
}

// Cases are the conformance cases.
var Cases = []Case{
	{"CreateGet", CreateGet},
	{"NotFound", NotFound},
	{"StaleUpdateConflicts", StaleUpdateConflicts},
	{"ConcurrentCAS", ConcurrentCAS},
	{"LeaseExpiryAndClaim", LeaseExpiryAndClaim},
	{"Fencing", Fencing},
	{"IndexConsistency", IndexConsistency},
	{"IndexByEpoch", IndexByEpoch},
	{"Corrupt", Corrupt},
	{"List", List},
	{"ListFollowsState", ListFollowsState},
	{"ListFinished", ListFinished},
	{"ListFinishedPaging", ListFinishedPaging},
	{"ListFinishedIndexed", ListFinishedIndexed},
	{"FinishedRetention", FinishedRetention},
	{"ListPage", ListPage},
	{"ListPageWhileMoving", ListPageWhileMoving},
}

// Run runs every conformance case as a subtest.
func Run(t *testing.T, h Harness) {
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) {
			if h.Parallel {
				t.Parallel()
			}
			c.Run(t, h)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newRecord(lease time.Time) sagastore.Record {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return sagastore.Record{
		ID: uuid.NewString(), Name: "conformance", State: sagastore.StateRunning,
		Steps: []sagastore.StepState{{Status: sagastore.StepStarted, KeyEpoch: 1, Result: []byte(`{"id":"r"}`)}, {}},
		Data:  []byte(`{"n":0}`), Owner: "a", Epoch: 1, LeaseUntil: lease.UTC().Truncate(time.Millisecond),
		CreatedAt: now, UpdatedAt: now,
	}
}

func mustCreate(t *testing.T, ctx context.Context, s sagastore.Store, rec *sagastore.Record) {
	t.Helper()
	v, err := s.Create(ctx, *rec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	rec.Version = v
}

// CreateGet: a created record reads back as written; Create of a taken id
// fails; Update bumps the version.
func CreateGet(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	rec := newRecord(time.Now().Add(time.Minute))
	mustCreate(t, ctx, s, &rec)
	got, err := s.Get(ctx, rec.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Version != rec.Version || got.State != rec.State || got.Owner != "a" || got.Epoch != 1 ||
		!got.LeaseUntil.Equal(rec.LeaseUntil) || string(got.Data) != `{"n":0}` || len(got.Steps) != 2 ||
		got.Steps[0].KeyEpoch != 1 || string(got.Steps[0].Result) != `{"id":"r"}` {
		t.Fatalf("Get = %+v, want %+v", got, rec)
	}
	if _, err := s.Create(ctx, rec); !errors.Is(err, sagastore.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	got.Step, got.State = 1, sagastore.StateCompleted
	v, err := s.Update(ctx, got)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if v == got.Version {
		t.Fatalf("Update kept version %d", v)
	}
	again, err := s.Get(ctx, rec.ID)
	if err != nil || again.Version != v || again.State != sagastore.StateCompleted || again.Step != 1 {
		t.Fatalf("Get after Update = %+v, %v", again, err)
	}
}

// NotFound: Get and Update of a missing id say ErrNotFound.
func NotFound(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	if _, err := s.Get(ctx, "missing-"+uuid.NewString()); !errors.Is(err, sagastore.ErrNotFound) {
		t.Fatalf("Get: %v, want ErrNotFound", err)
	}
	rec := newRecord(time.Now())
	rec.Version = 1
	if _, err := s.Update(ctx, rec); !errors.Is(err, sagastore.ErrNotFound) {
		t.Fatalf("Update: %v, want ErrNotFound", err)
	}
}

// StaleUpdateConflicts: an Update from a stale version is refused and
// changes nothing.
func StaleUpdateConflicts(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	rec := newRecord(time.Now().Add(time.Minute))
	mustCreate(t, ctx, s, &rec)
	first := rec.Clone()
	first.Step = 1
	if _, err := s.Update(ctx, first); err != nil {
		t.Fatalf("first Update: %v", err)
	}
	second := rec.Clone()
	second.State = sagastore.StateCompensating
	if _, err := s.Update(ctx, second); !errors.Is(err, sagastore.ErrConflict) {
		t.Fatalf("stale Update: %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, rec.ID)
	if err != nil || got.Step != 1 || got.State != sagastore.StateRunning {
		t.Fatalf("stale Update changed the record: %+v, %v", got, err)
	}
}

// ConcurrentCAS: writers increment a counter in History through
// read-modify-CAS loops; no increment may be lost or doubled.
func ConcurrentCAS(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	rec := newRecord(time.Now().Add(time.Minute))
	mustCreate(t, ctx, s, &rec)
	const writers, each = 6, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				for try := 0; ; try++ {
					if try > 500 {
						errs <- fmt.Errorf("writer %d: no progress", w)
						return
					}
					cur, err := s.Get(ctx, rec.ID)
					if err != nil {
						errs <- err
						return
					}
					cur.History = append(cur.History, sagastore.Event{Step: w, What: "inc"})
					if _, err := s.Update(ctx, cur); errors.Is(err, sagastore.ErrConflict) {
						mu.Lock()
						conflicts++
						mu.Unlock()
						continue
					} else if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.History) != writers*each {
		t.Fatalf("history has %d entries, want %d (conflicts seen: %d)", len(got.History), writers*each, conflicts)
	}
	t.Logf("%d conflicts", conflicts)
}

// LeaseExpiryAndClaim: an expired lease is due; of concurrent claims reading
// one version exactly one wins.
func LeaseExpiryAndClaim(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	now := time.Now()
	rec := newRecord(now.Add(2 * time.Second))
	mustCreate(t, ctx, s, &rec)
	if ids, err := dueIDs(ctx, s, now, 10); err != nil || slices.Contains(ids, rec.ID) {
		t.Fatalf("Due before expiry = %v, %v", ids, err)
	}
	ids, err := dueIDs(ctx, s, now.Add(3*time.Second), 10)
	if err != nil || !slices.Contains(ids, rec.ID) {
		t.Fatalf("Due after expiry = %v, %v; want %s", ids, err, rec.ID)
	}
	// Several peers claim the expired saga at once: of those that read the
	// same version exactly one wins.
	const peers = 5
	type win struct {
		owner   string
		version uint64
	}
	var wg sync.WaitGroup
	wins := make(chan win, peers)
	for p := range peers {
		wg.Go(func() {
			cur, err := s.Get(ctx, rec.ID)
			if err != nil {
				t.Error(err)
				return
			}
			cur.Owner, cur.Epoch, cur.LeaseUntil = fmt.Sprintf("p%d", p), cur.Epoch+1, now.Add(time.Minute)
			if v, err := s.Update(ctx, cur); err == nil {
				wins <- win{cur.Owner, v}
			} else if !errors.Is(err, sagastore.ErrConflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(wins)
	var winners []win
	for w := range wins {
		winners = append(winners, w)
	}
	got, err := s.Get(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Claims that read after a winner's write legitimately win again with a
	// higher epoch; what matters is that the stored owner is the winner of
	// the highest version and that the epoch counts the wins. (The order in
	// which winners reach the channel says nothing about commit order.)
	if len(winners) == 0 {
		t.Fatal("no claim won")
	}
	last := slices.MaxFunc(winners, func(a, b win) int { return cmp.Compare(a.version, b.version) })
	if got.Owner != last.owner || got.Version != last.version || got.Epoch != 1+uint64(len(winners)) {
		t.Fatalf("winners %v, stored owner %q version %d epoch %d", winners, got.Owner, got.Version, got.Epoch)
	}
}

// Fencing: the write of an owner fenced out by a claim is refused.
func Fencing(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	rec := newRecord(time.Now().Add(-time.Second))
	mustCreate(t, ctx, s, &rec)
	stale := rec.Clone() // owner a, epoch 1, about to write a transition
	claim := rec.Clone()
	claim.Owner, claim.Epoch, claim.LeaseUntil = "b", 2, time.Now().Add(time.Minute)
	if _, err := s.Update(ctx, claim); err != nil {
		t.Fatalf("claim: %v", err)
	}
	stale.Step, stale.Steps[0].Status = 1, sagastore.StepSucceeded
	if _, err := s.Update(ctx, stale); !errors.Is(err, sagastore.ErrConflict) {
		t.Fatalf("stale owner's write: %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, rec.ID)
	if err != nil || got.Owner != "b" || got.Epoch != 2 || got.Step != 0 {
		t.Fatalf("after fenced write: %+v, %v", got, err)
	}
}

// IndexConsistency: Due, Index and Unindex keep the due index as the
// contract says; Update leaves it alone.
func IndexConsistency(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	base := time.Now().Add(time.Hour)
	var ids []string
	for i := range 5 {
		rec := newRecord(base.Add(time.Duration(i) * time.Second))
		mustCreate(t, ctx, s, &rec)
		ids = append(ids, rec.ID)
	}
	due := func(at time.Time, limit int) []string {
		t.Helper()
		got, err := dueIDs(ctx, s, at, limit)
		if err != nil {
			t.Fatalf("Due: %v", err)
		}
		return got
	}
	if got := due(base.Add(-time.Second), 0); len(got) != 0 {
		t.Fatalf("Due before any lease = %v", got)
	}
	got := due(base.Add(10*time.Second), 0)
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Fatalf("Due = %v, want %v", got, want)
	}
	if got := due(base.Add(10*time.Second), 2); len(got) != 2 {
		t.Fatalf("Due limit 2 = %v", got)
	}
	// An update leaves the index alone.
	rec, err := s.Get(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	rec.State = sagastore.StateCompleted
	if _, err := s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := due(base.Add(500*time.Millisecond), 0); !slices.Equal(got, ids[:1]) {
		t.Fatalf("Due after Update = %v, want %v", got, ids[:1])
	}
	if err := s.Unindex(ctx, sagastore.Entry{ID: ids[0], Epoch: 1}, sagastore.Entry{ID: ids[1], Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Index(ctx, sagastore.Entry{ID: ids[4], Epoch: 1, At: base.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got := due(base.Add(-time.Second), 0); !slices.Equal(got, ids[4:]) {
		t.Fatalf("Due after re-index = %v, want %v", got, ids[4:])
	}
	got = due(base.Add(10*time.Second), 0)
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(ids[2:])); !slices.Equal(got, want) {
		t.Fatalf("Due after Unindex = %v, want %v", got, want)
	}
	if err := s.Unindex(ctx, sagastore.Entry{ID: "never-indexed", Epoch: 1}); err != nil {
		t.Fatalf("Unindex of unknown id: %v", err)
	}
}

// IndexByEpoch: entries of one saga at two epochs are distinct, so the
// removal of an old owner's entry leaves the new owner's in place.
func IndexByEpoch(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	at := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	rec := newRecord(at)
	mustCreate(t, ctx, s, &rec)
	if err := s.Index(ctx, sagastore.Entry{ID: rec.ID, Epoch: 2, At: at}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Due(ctx, time.Now(), 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("Due = %v, %v; want the entries of epochs 1 and 2", got, err)
	}
	if err := s.Unindex(ctx, sagastore.Entry{ID: rec.ID, Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Due(ctx, time.Now(), 0)
	if err != nil || len(got) != 1 || got[0].ID != rec.ID || got[0].Epoch != 2 || !got[0].At.Equal(at) {
		t.Fatalf("Due after removing epoch 1 = %+v, %v; want only epoch 2 at %v", got, err, at)
	}
}

func dueIDs(ctx context.Context, s sagastore.Store, now time.Time, limit int) ([]string, error) {
	entries, err := s.Due(ctx, now, limit)
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids, err
}

// Corrupt: undecodable bytes read back as a *CorruptError.
func Corrupt(t *testing.T, h Harness) {
	if h.Corrupt == nil {
		t.Skip("the store offers no way to plant a corrupt record (Features.Corrupt is nil)")
	}
	ctx, s := ctxT(t), h.New(t)
	id := uuid.NewString()
	h.Corrupt(t, s, id)
	_, err := s.Get(ctx, id)
	var ce *sagastore.CorruptError
	if !errors.Is(err, sagastore.ErrCorrupt) || !errors.As(err, &ce) || ce.ID != id {
		t.Fatalf("Get of corrupt record: %v, want *CorruptError for %s", err, id)
	}
}

// List: records of a state, with their versions, up to a limit.
func List(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	stuck := map[string]bool{}
	for i := range 4 {
		rec := newRecord(time.Now())
		if i%2 == 0 {
			rec.State = sagastore.StateStuck
			stuck[rec.ID] = true
		}
		mustCreate(t, ctx, s, &rec)
	}
	got, err := s.List(ctx, sagastore.StateStuck, 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != len(stuck) {
		t.Fatalf("List(stuck) returned %d records, want %d", len(got), len(stuck))
	}
	for _, r := range got {
		if !stuck[r.ID] || r.State != sagastore.StateStuck || r.Version == 0 {
			t.Fatalf("List returned %+v", r)
		}
	}
	if got, err := s.List(ctx, sagastore.StateStuck, 1); err != nil || len(got) != 1 {
		t.Fatalf("List limit 1 = %d records, %v", len(got), err)
	}
}

// ListFollowsState: List finds sagas by their current state as transitions
// move them: active ones, ones that went Stuck by an Update, ones that left
// Stuck, and final ones.
func ListFollowsState(t *testing.T, h Harness) {
	ctx, s := ctxT(t), h.New(t)
	mk := func(state sagastore.State) sagastore.Record {
		rec := newRecord(time.Now().Add(time.Minute))
		rec.State = state
		mustCreate(t, ctx, s, &rec)
		return rec
	}
	update := func(rec *sagastore.Record, state sagastore.State) {
		t.Helper()
		rec.State = state
		v, err := s.Update(ctx, *rec)
		if err != nil {
			t.Fatal(err)
		}
		rec.Version = v
	}
	running, toStuck, unstuck, done := mk(sagastore.StateRunning), mk(sagastore.StateRunning), mk(sagastore.StateStuck), mk(sagastore.StateRunning)
	update(&toStuck, sagastore.StateStuck)
	update(&unstuck, sagastore.StateCompensating) // an operator's Retry
	update(&done, sagastore.StateCompleted)
	for _, want := range []struct {
		state sagastore.State
		ids   []string
	}{
		{sagastore.StateRunning, []string{running.ID}},
		{sagastore.StateStuck, []string{toStuck.ID}},
		{sagastore.StateCompensating, []string{unstuck.ID}},
		{sagastore.StateCompleted, []string{done.ID}},
	} {
		got, err := s.List(ctx, want.state, 0)
		if err != nil {
			t.Fatalf("List(%s): %v", want.state, err)
		}
		ids := make([]string, len(got))
		for i, r := range got {
			ids[i] = r.ID
		}
		if !slices.Equal(ids, want.ids) {
			t.Fatalf("List(%s) = %v, want %v", want.state, ids, want.ids)
		}
	}
}
