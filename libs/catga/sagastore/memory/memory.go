package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// Option configures a Store.
type Option func(*Store)

// WithRetention sets how long the finished index keeps a saga (default
// sagastore.DefaultRetention); records themselves are kept.
func WithRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// Store is an in-memory sagastore.Store. The zero value is not usable; use
// [New].
type Store struct {
	mu        sync.Mutex
	records   map[string][]byte // encoded, so callers never share memory with the store
	version   map[string]uint64
	due       map[dueKey]time.Time
	state     map[string]sagastore.State // the state index List reads for Stuck sagas
	finished  map[sagastore.State]*finishedIndex
	retention time.Duration
	next      uint64
	work      atomic.Int64
}

// finishedIndex is the finished index of one final state: entries in the
// order they were written (by store version, so a cursor is a version).
type finishedIndex struct {
	entries []finished
	has     map[string]bool
}

type finished struct {
	seq uint64
	at  time.Time
	id  string
}

// trimBatch bounds the expired entries one write removes.
const trimBatch = 64

type dueKey struct {
	id    string
	epoch uint64
}

var _ sagastore.Store = (*Store)(nil)

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{records: map[string][]byte{}, version: map[string]uint64{}, due: map[dueKey]time.Time{},
		state: map[string]sagastore.State{}, retention: sagastore.DefaultRetention,
		finished: map[sagastore.State]*finishedIndex{
			sagastore.StateCompleted: {has: map[string]bool{}}, sagastore.StateCompensated: {has: map[string]bool{}},
		}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Work is the number of records the store has looked at to answer reads
// (Get, List, ListFinished, Scan), whatever their state; tests use it to
// check that listing a state does not look at sagas in other states.
func (s *Store) Work() int64 { return s.work.Load() }

// setState records the state of rec (s.mu held, s.next its new version):
// a final record joins its state's finished index in the same step.
func (s *Store) setState(id string, state sagastore.State) {
	s.state[id] = state
	fi := s.finished[state]
	if fi == nil {
		return
	}
	now := time.Now()
	cut := now.Add(-s.retention)
	n := 0
	for n < len(fi.entries) && n < trimBatch && fi.entries[n].at.Before(cut) {
		delete(fi.has, fi.entries[n].id)
		n++
	}
	fi.entries = fi.entries[n:]
	if !fi.has[id] {
		fi.has[id] = true
		fi.entries = append(fi.entries, finished{seq: s.next, at: now, id: id})
	}
}

// Put stores raw bytes under id, bypassing encoding; tests use it to plant
// corrupt records.
func (s *Store) Put(id string, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.records[id], s.version[id] = raw, s.next
	delete(s.state, id) // undecodable: in no state
}

// Create implements sagastore.Store.
func (s *Store) Create(_ context.Context, rec sagastore.Record) (uint64, error) {
	b, err := sagastore.Encode(rec)
	if err != nil {
		return 0, fmt.Errorf("catga: memory saga store: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[rec.ID]; ok {
		return 0, fmt.Errorf("%w: %s", sagastore.ErrExists, rec.ID)
	}
	s.next++
	s.records[rec.ID], s.version[rec.ID] = b, s.next
	s.setState(rec.ID, rec.State)
	s.due[dueKey{rec.ID, rec.Epoch}] = rec.LeaseUntil
	return s.next, nil
}

// Get implements sagastore.Store.
func (s *Store) Get(_ context.Context, id string) (sagastore.Record, error) {
	s.work.Add(1)
	s.mu.Lock()
	b, ok := s.records[id]
	v := s.version[id]
	s.mu.Unlock()
	if !ok {
		return sagastore.Record{}, fmt.Errorf("%w: %s", sagastore.ErrNotFound, id)
	}
	rec, err := sagastore.Decode(id, b)
	if err != nil {
		return sagastore.Record{}, err
	}
	rec.Version = v
	return rec, nil
}

// Update implements sagastore.Store.
func (s *Store) Update(_ context.Context, rec sagastore.Record) (uint64, error) {
	b, err := sagastore.Encode(rec)
	if err != nil {
		return 0, fmt.Errorf("catga: memory saga store: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.version[rec.ID]
	if !ok {
		return 0, fmt.Errorf("%w: %s", sagastore.ErrNotFound, rec.ID)
	}
	if v != rec.Version {
		return 0, fmt.Errorf("%w: %s at version %d, expected %d", sagastore.ErrConflict, rec.ID, v, rec.Version)
	}
	s.next++
	s.records[rec.ID], s.version[rec.ID] = b, s.next
	s.setState(rec.ID, rec.State)
	return s.next, nil
}

// Due implements sagastore.Store.
func (s *Store) Due(_ context.Context, now time.Time, limit int) ([]sagastore.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sagastore.Entry
	for k, at := range s.due {
		if !at.After(now) {
			out = append(out, sagastore.Entry{ID: k.id, Epoch: k.epoch, At: at})
		}
	}
	slices.SortFunc(out, func(a, b sagastore.Entry) int { return a.At.Compare(b.At) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Index implements sagastore.Store.
func (s *Store) Index(_ context.Context, e sagastore.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.due[dueKey{e.ID, e.Epoch}] = e.At
	return nil
}

// Unindex implements sagastore.Store.
func (s *Store) Unindex(_ context.Context, entries ...sagastore.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		delete(s.due, dueKey{e.ID, e.Epoch})
	}
	return nil
}

// List implements sagastore.Store: active sagas through the due index,
// others through the state and finished indexes.
func (s *Store) List(ctx context.Context, state sagastore.State, limit int) ([]sagastore.Record, error) {
	switch {
	case state.Active():
		return sagastore.ListActive(ctx, s, state, limit)
	case state.Final():
		return sagastore.ListFinal(ctx, s, state, limit)
	case state != sagastore.StateStuck:
		return nil, fmt.Errorf("catga: memory saga store: list: unknown state %q", state)
	}
	s.mu.Lock()
	var ids []string
	for id, st := range s.state {
		s.work.Add(1)
		if st == state {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	return sagastore.GetInState(ctx, s, ids, state, limit)
}

// ListPage implements sagastore.Store; the stuck index is the state map.
func (s *Store) ListPage(ctx context.Context, state sagastore.State, cursor string, limit int) (sagastore.Page, error) {
	return sagastore.ListPage(ctx, s, s.stuckIDs, state, cursor, limit)
}

func (s *Store) stuckIDs(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, st := range s.state {
		if st == sagastore.StateStuck {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ListFinished implements sagastore.Store. A cursor is the store version
// of the last entry read.
func (s *Store) ListFinished(_ context.Context, state sagastore.State, cursor string, limit int) (sagastore.Page, error) {
	limit, err := sagastore.CheckFinal(state, limit)
	if err != nil {
		return sagastore.Page{}, err
	}
	after := uint64(0)
	if cursor != "" {
		if after, err = strconv.ParseUint(cursor, 10, 64); err != nil {
			return sagastore.Page{}, fmt.Errorf("%w: %q", sagastore.ErrBadCursor, cursor)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	entries := s.finished[state].entries
	i, _ := slices.BinarySearchFunc(entries, after+1, func(e finished, seq uint64) int { return cmp.Compare(e.seq, seq) })
	page := sagastore.Page{Next: cursor}
	cut := time.Now().Add(-s.retention)
	for ; i < len(entries) && len(page.Records) < limit; i++ {
		e := entries[i]
		page.Next = strconv.FormatUint(e.seq, 10)
		if e.at.Before(cut) || s.state[e.id] != state {
			continue
		}
		s.work.Add(1)
		rec, err := sagastore.Decode(e.id, s.records[e.id])
		if err != nil {
			continue
		}
		rec.Version = s.version[e.id]
		page.Records = append(page.Records, rec)
	}
	page.More = i < len(entries)
	return page, nil
}

// Scan implements sagastore.Scanner by decoding every record.
func (s *Store) Scan(_ context.Context, state sagastore.State, limit int) ([]sagastore.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sagastore.Record
	for id, b := range s.records {
		s.work.Add(1)
		rec, err := sagastore.Decode(id, b)
		if err != nil || rec.State != state {
			continue
		}
		rec.Version = s.version[id]
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b sagastore.Record) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
