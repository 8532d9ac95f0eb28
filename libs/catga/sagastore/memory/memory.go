package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// Store is an in-memory sagastore.Store. The zero value is not usable; use
// [New].
type Store struct {
	mu      sync.Mutex
	records map[string][]byte // encoded, so callers never share memory with the store
	version map[string]uint64
	due     map[dueKey]time.Time
	state   map[string]sagastore.State // the state index List reads
	next    uint64
}

type dueKey struct {
	id    string
	epoch uint64
}

var _ sagastore.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{records: map[string][]byte{}, version: map[string]uint64{}, due: map[dueKey]time.Time{}, state: map[string]sagastore.State{}}
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
	s.state[rec.ID] = rec.State
	s.due[dueKey{rec.ID, rec.Epoch}] = rec.LeaseUntil
	return s.next, nil
}

// Get implements sagastore.Store.
func (s *Store) Get(_ context.Context, id string) (sagastore.Record, error) {
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
	s.state[rec.ID] = rec.State
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

// List implements sagastore.Store through the state index.
func (s *Store) List(_ context.Context, state sagastore.State, limit int) ([]sagastore.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sagastore.Record
	for id, st := range s.state {
		if st != state {
			continue
		}
		rec, err := sagastore.Decode(id, s.records[id])
		if err != nil {
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

// Scan implements sagastore.Scanner by decoding every record.
func (s *Store) Scan(_ context.Context, state sagastore.State, limit int) ([]sagastore.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sagastore.Record
	for id, b := range s.records {
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
