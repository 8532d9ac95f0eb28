package natskv

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// Config names the buckets.
type Config struct {
	Bucket   string // records bucket, default "catga_sagas"
	Replicas int    // default 1
	// Retention is how long the finished index keeps a saga (default
	// sagastore.DefaultRetention; at least a second, the shortest key TTL
	// the server allows). Records themselves are kept.
	Retention time.Duration
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if c.Replicas < 0 {
		errs = append(errs, errors.New("catga: natskv: negative Replicas"))
	}
	if c.Retention != 0 && c.Retention < time.Second {
		errs = append(errs, fmt.Errorf("catga: natskv: Retention %v is under a second", c.Retention))
	}
	if strings.ContainsAny(c.Bucket, " .*>") {
		errs = append(errs, fmt.Errorf("catga: natskv: invalid bucket name %q", c.Bucket))
	}
	return errors.Join(errs...)
}

// markerTTL is how long a removed due entry's purge marker stays (the
// server's minimum is one second).
const markerTTL = time.Second

// Store is a JetStream KV sagastore.Store.
type Store struct {
	recs      jetstream.KeyValue
	due       jetstream.KeyValue
	stuck     jetstream.KeyValue // the stuck index: key per Stuck saga, value the time indexed
	fin       jetstream.KeyValue // the finished index: see finished.go
	finStream jetstream.Stream
	finPrefix string // subject prefix of fin's keys
	retention time.Duration

	migrated  atomic.Bool
	migrateMu sync.Mutex
}

var _ sagastore.Store = (*Store)(nil)

// New creates (or opens) the buckets and returns a store over them.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	return open(ctx, js, cfg, js.CreateOrUpdateKeyValue)
}

// Open returns a store over the buckets a [New] made, and fails if one is
// missing: it never creates or reconfigures a bucket, so tools that only
// look and operate (the catga CLI) need no right to manage streams.
// cfg.Replicas is ignored.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	return open(ctx, js, cfg, func(ctx context.Context, c jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
		return js.KeyValue(ctx, c.Bucket)
	})
}

// bucketFunc makes or binds the bucket c describes.
type bucketFunc func(ctx context.Context, c jetstream.KeyValueConfig) (jetstream.KeyValue, error)

func open(ctx context.Context, js jetstream.JetStream, cfg Config, bucket bucketFunc) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "catga_sagas"
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Retention == 0 {
		cfg.Retention = sagastore.DefaultRetention
	}
	recs, err := bucket(ctx, jetstream.KeyValueConfig{Bucket: cfg.Bucket, History: 1, Replicas: cfg.Replicas})
	if err != nil {
		return nil, fmt.Errorf("catga: natskv: bucket %s: %w", cfg.Bucket, err)
	}
	// Removed due entries leave purge markers behind; listing the bucket
	// reads them all and filters them client-side, so without an expiry a
	// due scan would grow with every saga ever run. Markers expire after
	// markerTTL (the bucket's LimitMarkerTTL enables per-message TTLs).
	due, err := bucket(ctx, jetstream.KeyValueConfig{Bucket: cfg.Bucket + "_due", History: 1,
		Replicas: cfg.Replicas, LimitMarkerTTL: markerTTL})
	if err != nil {
		return nil, fmt.Errorf("catga: natskv: bucket %s_due: %w", cfg.Bucket, err)
	}
	stuck, err := bucket(ctx, jetstream.KeyValueConfig{Bucket: cfg.Bucket + "_stuck", History: 1,
		Replicas: cfg.Replicas, LimitMarkerTTL: markerTTL})
	if err != nil {
		return nil, fmt.Errorf("catga: natskv: bucket %s_stuck: %w", cfg.Bucket, err)
	}
	s := &Store{recs: recs, due: due, stuck: stuck, retention: cfg.Retention}
	if err := s.openFinished(ctx, js, cfg, bucket); err != nil {
		return nil, err
	}
	return s, nil
}

// Key maps a saga id to a valid KV key: ids made of KV-safe characters are
// used as they are, others are hex-encoded behind "x.".
func Key(id string) string {
	for _, r := range id {
		if !kvSafe(r) {
			return "x." + hex.EncodeToString([]byte(id))
		}
	}
	if id == "" {
		return "x."
	}
	return id
}

func kvSafe(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '='
}

func idOf(key string) string {
	if h, ok := strings.CutPrefix(key, "x."); ok {
		b, err := hex.DecodeString(h)
		if err == nil {
			return string(b)
		}
	}
	return key
}

// PutRaw stores raw bytes as saga id's record; tests use it to plant corrupt
// records.
func (s *Store) PutRaw(ctx context.Context, id string, raw []byte) error {
	_, err := s.recs.Put(ctx, Key(id), raw)
	return err
}

// Create implements sagastore.Store.
func (s *Store) Create(ctx context.Context, rec sagastore.Record) (uint64, error) {
	b, err := sagastore.Encode(rec)
	if err != nil {
		return 0, fmt.Errorf("catga: natskv: %w", err)
	}
	// Index first: an index entry without a record is harmless.
	if err := s.Index(ctx, sagastore.Entry{ID: rec.ID, Epoch: rec.Epoch, At: rec.LeaseUntil}); err != nil {
		return 0, err
	}
	if err := s.indexStuck(ctx, rec); err != nil {
		return 0, err
	}
	if err := s.indexFinished(ctx, rec); err != nil {
		return 0, err
	}
	rev, err := s.recs.Create(ctx, Key(rec.ID), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("%w: %s", sagastore.ErrExists, rec.ID)
	}
	if err != nil {
		return 0, fmt.Errorf("catga: natskv: create %s: %w", rec.ID, err)
	}
	return rev, nil
}

// Get implements sagastore.Store.
func (s *Store) Get(ctx context.Context, id string) (sagastore.Record, error) {
	e, err := s.recs.Get(ctx, Key(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return sagastore.Record{}, fmt.Errorf("%w: %s", sagastore.ErrNotFound, id)
	}
	if err != nil {
		return sagastore.Record{}, fmt.Errorf("catga: natskv: get %s: %w", id, err)
	}
	rec, err := sagastore.Decode(id, e.Value())
	if err != nil {
		return sagastore.Record{}, err
	}
	rec.Version = e.Revision()
	return rec, nil
}

// Update implements sagastore.Store.
func (s *Store) Update(ctx context.Context, rec sagastore.Record) (uint64, error) {
	b, err := sagastore.Encode(rec)
	if err != nil {
		return 0, fmt.Errorf("catga: natskv: %w", err)
	}
	if err := s.indexStuck(ctx, rec); err != nil {
		return 0, err
	}
	if err := s.indexFinished(ctx, rec); err != nil {
		return 0, err
	}
	rev, err := s.recs.Update(ctx, Key(rec.ID), b, rec.Version)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		if _, gerr := s.recs.Get(ctx, Key(rec.ID)); errors.Is(gerr, jetstream.ErrKeyNotFound) {
			return 0, fmt.Errorf("%w: %s", sagastore.ErrNotFound, rec.ID)
		}
		return 0, fmt.Errorf("%w: %s (expected revision %d)", sagastore.ErrConflict, rec.ID, rec.Version)
	}
	if err != nil {
		return 0, fmt.Errorf("catga: natskv: update %s: %w", rec.ID, err)
	}
	return rev, nil
}

// dueKey is an entry's key in the due bucket: "<epoch>.<Key(id)>", or
// Key(id) alone for a legacy (epoch 0) entry.
func dueKey(e sagastore.Entry) string {
	if e.Epoch == 0 {
		return Key(e.ID)
	}
	return strconv.FormatUint(e.Epoch, 10) + "." + Key(e.ID)
}

// dueEntry parses a due bucket key; one without an epoch is legacy.
func dueEntry(key string, at int64) sagastore.Entry {
	e := sagastore.Entry{ID: idOf(key), At: time.UnixMilli(at)}
	if ep, k, ok := strings.Cut(key, "."); ok {
		if epoch, err := strconv.ParseUint(ep, 10, 64); err == nil && epoch > 0 {
			e.ID, e.Epoch = idOf(k), epoch
		}
	}
	return e
}

// Due implements sagastore.Store.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]sagastore.Entry, error) {
	var out []sagastore.Entry
	err := s.each(ctx, s.due, func(key string, val []byte) {
		at, err := strconv.ParseInt(string(val), 10, 64)
		if err == nil && at <= now.UnixMilli() {
			out = append(out, dueEntry(key, at))
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b sagastore.Entry) int { return a.At.Compare(b.At) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// each calls fn for every live key of kv.
func (s *Store) each(ctx context.Context, kv jetstream.KeyValue, fn func(key string, val []byte)) error {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil
		}
		return fmt.Errorf("catga: natskv: list: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("catga: natskv: get %s: %w", key, err)
		}
		fn(key, e.Value())
	}
	return nil
}

// Index implements sagastore.Store.
func (s *Store) Index(ctx context.Context, e sagastore.Entry) error {
	if _, err := s.due.Put(ctx, dueKey(e), []byte(strconv.FormatInt(e.At.UnixMilli(), 10))); err != nil {
		return fmt.Errorf("catga: natskv: index %s: %w", e.ID, err)
	}
	return nil
}

// Unindex implements sagastore.Store.
func (s *Store) Unindex(ctx context.Context, entries ...sagastore.Entry) error {
	for _, e := range entries {
		if err := s.due.Purge(ctx, dueKey(e), jetstream.PurgeTTL(markerTTL)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("catga: natskv: unindex %s: %w", e.ID, err)
		}
	}
	return nil
}

// staleGrace is how old a stuck-index entry whose record is not Stuck must
// be before List drops it: a younger one may belong to a Stuck write still
// in flight (indexed first, written next).
const staleGrace = time.Minute

// indexStuck adds a Stuck record to the stuck index before the record is
// written.
func (s *Store) indexStuck(ctx context.Context, rec sagastore.Record) error {
	if rec.State != sagastore.StateStuck {
		return nil
	}
	if _, err := s.stuck.Put(ctx, Key(rec.ID), []byte(strconv.FormatInt(time.Now().UnixMilli(), 10))); err != nil {
		return fmt.Errorf("catga: natskv: index stuck %s: %w", rec.ID, err)
	}
	return nil
}

// List implements sagastore.Store: active sagas through the due index,
// Stuck ones through the stuck index, final ones through the finished
// index.
func (s *Store) List(ctx context.Context, state sagastore.State, limit int) ([]sagastore.Record, error) {
	switch {
	case state.Active():
		return sagastore.ListActive(ctx, s, state, limit)
	case state == sagastore.StateStuck:
		var ids []string
		old := map[string]bool{}
		err := s.each(ctx, s.stuck, func(key string, val []byte) {
			id := idOf(key)
			ids = append(ids, id)
			if at, err := strconv.ParseInt(string(val), 10, 64); err == nil && time.UnixMilli(at).Before(time.Now().Add(-staleGrace)) {
				old[id] = true
			}
		})
		if err != nil {
			return nil, err
		}
		out, err := sagastore.GetInState(ctx, s, ids, state, 0)
		if err != nil {
			return nil, err
		}
		listed := map[string]bool{}
		for _, r := range out {
			listed[r.ID] = true
		}
		for id := range old {
			if !listed[id] { // retried or gone since
				_ = s.stuck.Purge(ctx, Key(id), jetstream.PurgeTTL(markerTTL))
			}
		}
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return out, nil
	case state.Final():
		return sagastore.ListFinal(ctx, s, state, limit)
	}
	return nil, fmt.Errorf("catga: natskv: list: unknown state %q", state)
}

// ListPage implements sagastore.Store: the ids of the due or stuck index,
// then the records of one page.
func (s *Store) ListPage(ctx context.Context, state sagastore.State, cursor string, limit int) (sagastore.Page, error) {
	return sagastore.ListPage(ctx, s, s.stuckIDs, state, cursor, limit)
}

// stuckIDs lists the stuck bucket's keys only: no read per entry.
func (s *Store) stuckIDs(ctx context.Context) ([]string, error) {
	lister, err := s.stuck.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("catga: natskv: list stuck: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var ids []string
	for key := range lister.Keys() {
		ids = append(ids, idOf(key))
	}
	return ids, nil
}

// Scan implements sagastore.Scanner by reading every record.
func (s *Store) Scan(ctx context.Context, state sagastore.State, limit int) ([]sagastore.Record, error) {
	var out []sagastore.Record
	err := s.scanAll(ctx, func(rec sagastore.Record) {
		if rec.State == state {
			out = append(out, rec)
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b sagastore.Record) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// scanAll calls fn with every record that decodes.
func (s *Store) scanAll(ctx context.Context, fn func(sagastore.Record)) error {
	lister, err := s.recs.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil
		}
		return fmt.Errorf("catga: natskv: list: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	for key := range lister.Keys() {
		if rec, err := s.Get(ctx, idOf(key)); err == nil {
			fn(rec) // deleted or corrupt records are skipped
		}
	}
	return nil
}
