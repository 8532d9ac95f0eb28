package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the key prefix (default "catga").
func WithPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// WithShards sets the number of due-index shards (default 16).
func WithShards(n int) Option { return func(s *Store) { s.shards = n } }

// WithRetention makes records of final sagas expire after d (default: kept
// forever). The expiry is set by the final transition and survives later
// updates.
func WithRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// WithFinishedRetention sets how long the finished index keeps a saga
// (default: WithRetention's duration when set, else
// sagastore.DefaultRetention).
func WithFinishedRetention(d time.Duration) Option { return func(s *Store) { s.finRetention = d } }

// WithReloadInterval sets how often a cluster client's slot map is reloaded
// even without errors (default 500ms; 0 or less disables the periodic reload).
func WithReloadInterval(d time.Duration) Option { return func(s *Store) { s.reloadEvery = d } }

// WithCreateReplicas makes Create wait (Redis WAIT) until the new record
// reached n replicas, for up to timeout, so that a failover right after
// Start cannot lose a saga the caller was told exists. It costs no extra
// round trip (the WAIT is pipelined after the write on the same connection)
// but adds the replication delay. When fewer replicas acknowledge in time,
// Create fails with ErrNotReplicated: the saga may or may not survive a
// failover, so the caller retries Start with the same id and treats
// sagastore.ErrExists as started. Default: no wait.
func WithCreateReplicas(n int, timeout time.Duration) Option {
	return func(s *Store) { s.waitReplicas, s.waitTimeout = n, timeout }
}

// ErrNotReplicated: Create's record did not reach the replicas asked for
// with WithCreateReplicas in time.
var ErrNotReplicated = errors.New("catga: redis saga store: create not acknowledged by enough replicas")

// WithLogger sets the logger (default discards).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Store is a Redis sagastore.Store. Create it with [New]; Close stops its
// background reload loop (it does not close the client).
type Store struct {
	c           redis.UniversalClient
	cluster     *redis.ClusterClient
	prefix      string
	shards      int
	retention   time.Duration
	reloadEvery time.Duration

	finRetention time.Duration
	migrated     atomic.Bool // the one-time finished-index migration is done (see migrate)
	migrateMu    sync.Mutex
	log          *slog.Logger

	waitReplicas int
	waitTimeout  time.Duration

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	// Index additions of Create are group-committed: concurrent creates
	// share one pipelined ZADD per shard, which is what keeps the cost of
	// a saga close to one round trip per transition.
	bmu     sync.Mutex
	pending []indexAdd
	kick    chan struct{}
}

type indexAdd struct {
	key  string
	z    redis.Z
	done chan error
}

var _ sagastore.Store = (*Store)(nil)

// New returns a store over c.
func New(c redis.UniversalClient, opts ...Option) *Store {
	s := &Store{c: c, prefix: "catga", shards: 16, reloadEvery: 500 * time.Millisecond,
		log: slog.New(slog.DiscardHandler), stop: make(chan struct{}), kick: make(chan struct{}, 1)}
	for _, o := range opts {
		o(s)
	}
	if s.shards < 1 {
		s.shards = 1
	}
	if s.finRetention <= 0 {
		s.finRetention = cmp.Or(s.retention, sagastore.DefaultRetention)
	}
	s.wg.Go(s.indexFlusher)
	if cc, ok := c.(*redis.ClusterClient); ok {
		s.cluster = cc
		if s.reloadEvery > 0 {
			s.wg.Go(s.reloadLoop)
		}
	}
	return s
}

// Close stops the background loops and waits for them.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	return nil
}

func (s *Store) reloadLoop() {
	t := time.NewTicker(s.reloadEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.cluster.ReloadState(context.Background())
		}
	}
}

// indexLater queues an index addition for the next group commit.
func (s *Store) indexLater(e sagastore.Entry) <-chan error {
	done := make(chan error, 1)
	s.bmu.Lock()
	s.pending = append(s.pending, indexAdd{key: s.shardOf(e.ID), z: zOf(e), done: done})
	s.bmu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // a flush is already due
	}
	return done
}

// indexFlusher writes queued index additions: everything queued while the
// previous flush was in flight goes in the next one, so batches grow with
// load and a lone Create waits for no timer.
func (s *Store) indexFlusher() {
	for {
		select {
		case <-s.stop:
			s.bmu.Lock()
			batch := s.pending
			s.pending = nil
			s.bmu.Unlock()
			for _, a := range batch {
				a.done <- errors.New("catga: redis saga store closed")
			}
			return
		case <-s.kick:
		}
		s.bmu.Lock()
		batch := s.pending
		s.pending = nil
		s.bmu.Unlock()
		if len(batch) == 0 {
			continue
		}
		byShard := map[string][]redis.Z{}
		for _, a := range batch {
			byShard[a.key] = append(byShard[a.key], a.z)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pipe := s.c.Pipeline()
		cmds := map[string]*redis.IntCmd{}
		for k, zs := range byShard {
			cmds[k] = pipe.ZAdd(ctx, k, zs...)
		}
		_, _ = pipe.Exec(ctx)
		for _, a := range batch {
			err := cmds[a.key].Err()
			if err != nil {
				err = s.checkErr(ctx, "index", err)
			}
			a.done <- err
		}
		cancel()
	}
}

// Key returns the key of saga id's record.
func (s *Store) Key(id string) string { return s.prefix + ":saga:{" + id + "}" }

func (s *Store) shardKey(n int) string { return s.prefix + ":due:{" + strconv.Itoa(n) + "}" }

func (s *Store) shardOf(id string) string { return s.shardKey(s.shardNum(id)) }

func (s *Store) shardNum(id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % uint32(s.shards))
}

// checkErr reloads the cluster slot map when err says it may be stale, and
// wraps err.
func (s *Store) checkErr(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if s.cluster != nil && staleTopology(err) {
		s.log.DebugContext(ctx, "catga: saga store: reloading cluster state", "op", op, "err", err)
		s.cluster.ReloadState(ctx)
	}
	return fmt.Errorf("catga: redis saga store: %s: %w", op, err)
}

func staleTopology(err error) bool {
	if errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	if _, moved := redis.IsMovedError(err); moved {
		return true
	}
	if redis.IsClusterDownError(err) || redis.IsReadOnlyError(err) || redis.IsTryAgainError(err) || redis.IsLoadingError(err) {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		// A script's key of another slot that has moved to another node
		// (see finishedShard); any other reply: the node is alive and right.
		return strings.Contains(re.Error(), "non local key")
	}
	return true // connection refused/reset, timeouts, EOF
}

var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 'd', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end
return 1`)

// updateScript: compare-and-set on the version. HSET keeps the key's TTL,
// which is how a retention expiry survives later updates. A record
// becoming final for the first time (its mark field ARGV[7] unset) joins
// the finished index in the same atomic step: ARGV[4] names a shard that
// is a key of another slot on the record's node (the allow-cross-slot-keys
// flag permits it), written before the record, so if it has moved to
// another node the script fails having written nothing; or ARGV[8] is the
// entry that indexFinished wrote before the script.
var updateScript = redis.NewScript(`#!lua flags=allow-cross-slot-keys
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return -2 end
if ARGV[7] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[7]) == 0 then
  local entry = ARGV[8]
  if ARGV[4] ~= '' then
    local idx, keep, member = ARGV[4], ARGV[5], ARGV[6]
` + finishedLua + `
    entry = idx .. ' ' .. redis.call('ZSCORE', idx, member)
  end
  redis.call('HSET', KEYS[1], ARGV[7], entry)
end
local nv = tonumber(v) + 1
redis.call('HSET', KEYS[1], 'v', nv, 'd', ARGV[2])
if ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return nv`)

// Create implements sagastore.Store. The index entry is written first (by
// a group commit shared with concurrent creates), then the record: an index
// entry without a record is harmless (Due callers re-read), a record without
// an index entry could be orphaned if its owner died.
func (s *Store) Create(ctx context.Context, rec sagastore.Record) (uint64, error) {
	b, err := sagastore.Encode(rec)
	if err != nil {
		return 0, fmt.Errorf("catga: redis saga store: %w", err)
	}
	select {
	case err := <-s.indexLater(sagastore.Entry{ID: rec.ID, Epoch: rec.Epoch, At: rec.LeaseUntil}):
		if err != nil {
			return 0, err
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("catga: redis saga store: create: %w", ctx.Err())
	}
	if err := s.indexStuck(ctx, rec); err != nil {
		return 0, err
	}
	mark, entry := "", ""
	if rec.State.Final() { // unusual: a saga created finished
		if entry, err = s.indexFinished(ctx, rec.ID, rec.State); err != nil {
			return 0, err
		}
		mark = markField(rec.State)
	}
	if s.waitReplicas > 0 {
		return s.createReplicated(ctx, rec.ID, b, mark, entry)
	}
	n, err := createScript.Run(ctx, s.c, []string{s.Key(rec.ID)}, b, mark, entry).Int()
	if err != nil {
		return 0, s.checkErr(ctx, "create", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: %s", sagastore.ErrExists, rec.ID)
	}
	return 1, nil
}

// createReplicated writes the record and WAITs on the same connection of
// the master holding it: WAIT counts the replicas that have every write the
// connection made before it.
func (s *Store) createReplicated(ctx context.Context, id string, b []byte, mark, entry string) (uint64, error) {
	key := s.Key(id)
	var node redis.Cmdable = s.c
	if s.cluster != nil {
		m, err := s.cluster.MasterForKey(ctx, key)
		if err != nil {
			return 0, s.checkErr(ctx, "create", err)
		}
		node = m
	}
	var created *redis.Cmd
	var acked *redis.Cmd
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		created = createScript.Eval(ctx, p, []string{key}, b, mark, entry)
		acked = p.Do(ctx, "WAIT", s.waitReplicas, s.waitTimeout.Milliseconds())
		return nil
	})
	if err != nil {
		return 0, s.checkErr(ctx, "create", err)
	}
	if n, _ := created.Int(); n == 0 {
		return 0, fmt.Errorf("%w: %s", sagastore.ErrExists, id)
	}
	if got, _ := acked.Int64(); got < int64(s.waitReplicas) {
		return 0, fmt.Errorf("%w: %s: %d of %d", ErrNotReplicated, id, got, s.waitReplicas)
	}
	return 1, nil
}

// Get implements sagastore.Store.
func (s *Store) Get(ctx context.Context, id string) (sagastore.Record, error) {
	vals, err := s.c.HMGet(ctx, s.Key(id), "v", "d").Result()
	if err != nil {
		return sagastore.Record{}, s.checkErr(ctx, "get", err)
	}
	return decode(id, vals)
}

func decode(id string, vals []any) (sagastore.Record, error) {
	if len(vals) != 2 || vals[0] == nil {
		return sagastore.Record{}, fmt.Errorf("%w: %s", sagastore.ErrNotFound, id)
	}
	vs, _ := vals[0].(string)
	ds, _ := vals[1].(string)
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil {
		return sagastore.Record{}, &sagastore.CorruptError{ID: id, Err: fmt.Errorf("version %q: %w", vs, err)}
	}
	rec, err := sagastore.Decode(id, []byte(ds))
	if err != nil {
		return sagastore.Record{}, err
	}
	rec.Version = v
	return rec, nil
}

// Update implements sagastore.Store in one round trip, also when the
// record becomes final (see finishedShard).
func (s *Store) Update(ctx context.Context, rec sagastore.Record) (uint64, error) {
	b, err := sagastore.Encode(rec)
	if err != nil {
		return 0, fmt.Errorf("catga: redis saga store: %w", err)
	}
	if err := s.indexStuck(ctx, rec); err != nil {
		return 0, err
	}
	ttl, fin, mark, entry := "0", "", "", ""
	if rec.State.Final() {
		if s.retention > 0 {
			ttl = strconv.FormatInt(s.retention.Milliseconds(), 10)
		}
		mark = markField(rec.State)
		var local bool
		if fin, local = s.finishedShard(ctx, rec.ID, rec.State); !local {
			if entry, err = s.indexFinished(ctx, rec.ID, rec.State); err != nil {
				return 0, err
			}
			fin = ""
		}
	}
	n, err := updateScript.Run(ctx, s.c, []string{s.Key(rec.ID)}, strconv.FormatUint(rec.Version, 10), b, ttl,
		fin, s.finRetention.Microseconds(), rec.ID, mark, entry).Int64()
	if err != nil {
		return 0, s.checkErr(ctx, "update", err)
	}
	switch n {
	case -1:
		return 0, fmt.Errorf("%w: %s", sagastore.ErrNotFound, rec.ID)
	case -2:
		return 0, fmt.Errorf("%w: %s (expected version %d)", sagastore.ErrConflict, rec.ID, rec.Version)
	}
	return uint64(n), nil
}

// member is an entry's due-index member: "<epoch>:<id>", or the bare id of
// a legacy (epoch 0) entry.
func member(e sagastore.Entry) string {
	if e.Epoch == 0 {
		return e.ID
	}
	return strconv.FormatUint(e.Epoch, 10) + ":" + e.ID
}

// entryOf parses a due-index member; one without an epoch is legacy.
func entryOf(m string, score float64) sagastore.Entry {
	e := sagastore.Entry{ID: m, At: time.UnixMilli(int64(score))}
	if ep, id, ok := strings.Cut(m, ":"); ok {
		if epoch, err := strconv.ParseUint(ep, 10, 64); err == nil && epoch > 0 {
			e.ID, e.Epoch = id, epoch
		}
	}
	return e
}

func zOf(e sagastore.Entry) redis.Z {
	return redis.Z{Score: float64(e.At.UnixMilli()), Member: member(e)}
}

// Due implements sagastore.Store: one ZRANGEBYSCORE per shard, pipelined.
// Shards that fail (their node is down or failing over) are skipped and
// logged: one unreachable node must not stop recovery of the sagas indexed
// on the others. Due fails only when every shard failed.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]sagastore.Entry, error) {
	max := strconv.FormatInt(now.UnixMilli(), 10)
	pipe := s.c.Pipeline()
	cmds := make([]*redis.ZSliceCmd, s.shards)
	for i := range cmds {
		r := &redis.ZRangeBy{Min: "-inf", Max: max}
		if limit > 0 {
			r.Count = int64(limit)
		}
		cmds[i] = pipe.ZRangeByScoreWithScores(ctx, s.shardKey(i), r)
	}
	_, _ = pipe.Exec(ctx) // errors are per command, below
	var all []sagastore.Entry
	var failed []error
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			failed = append(failed, s.checkErr(ctx, "due shard "+strconv.Itoa(i), err))
			continue
		}
		for _, z := range c.Val() {
			m, _ := z.Member.(string)
			all = append(all, entryOf(m, z.Score))
		}
	}
	if len(failed) == len(cmds) {
		return nil, errors.Join(failed...)
	}
	if len(failed) > 0 {
		s.log.WarnContext(ctx, "catga: saga store: due index partly unreachable; recovering the rest",
			"failed_shards", len(failed), "shards", len(cmds), "err", errors.Join(failed...))
	}
	slices.SortFunc(all, func(a, b sagastore.Entry) int { return a.At.Compare(b.At) })
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// Index implements sagastore.Store.
func (s *Store) Index(ctx context.Context, e sagastore.Entry) error {
	err := s.c.ZAdd(ctx, s.shardOf(e.ID), zOf(e)).Err()
	return s.checkErr(ctx, "index", err)
}

// Unindex implements sagastore.Store: one ZREM per shard touched, pipelined.
func (s *Store) Unindex(ctx context.Context, entries ...sagastore.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	byShard := map[string][]any{}
	for _, e := range entries {
		k := s.shardOf(e.ID)
		byShard[k] = append(byShard[k], member(e))
	}
	pipe := s.c.Pipeline()
	for k, m := range byShard {
		pipe.ZRem(ctx, k, m...)
	}
	_, err := pipe.Exec(ctx)
	return s.checkErr(ctx, "unindex", err)
}

func (s *Store) stuckKey() string { return s.prefix + ":stuck" }

// staleGrace is how old a stuck-index entry whose record is not Stuck must
// be before List drops it: a younger one may belong to a Stuck write still
// in flight (indexed first, written next).
const staleGrace = time.Minute

// indexStuck adds a Stuck record to the stuck index, scored with the time
// of indexing, before the record is written: an entry whose write then
// fails is dropped by List once it is older than staleGrace.
func (s *Store) indexStuck(ctx context.Context, rec sagastore.Record) error {
	if rec.State != sagastore.StateStuck {
		return nil
	}
	err := s.c.ZAdd(ctx, s.stuckKey(), redis.Z{Score: float64(time.Now().UnixMilli()), Member: rec.ID}).Err()
	return s.checkErr(ctx, "index stuck", err)
}

// List implements sagastore.Store: active sagas through the due index,
// Stuck ones through the stuck index, final ones through the finished
// index.
func (s *Store) List(ctx context.Context, state sagastore.State, limit int) ([]sagastore.Record, error) {
	switch {
	case state.Active():
		return sagastore.ListActive(ctx, s, state, limit)
	case state == sagastore.StateStuck:
		zs, err := s.c.ZRangeWithScores(ctx, s.stuckKey(), 0, -1).Result()
		if err != nil {
			return nil, s.checkErr(ctx, "list stuck", err)
		}
		ids := make([]string, 0, len(zs))
		var old []string // indexed long enough ago that their Stuck write has landed
		for _, z := range zs {
			id, _ := z.Member.(string)
			ids = append(ids, id)
			if time.UnixMilli(int64(z.Score)).Before(time.Now().Add(-staleGrace)) {
				old = append(old, id)
			}
		}
		out, err := sagastore.GetInState(ctx, s, ids, state, 0)
		if err != nil {
			return nil, err
		}
		if stale := staleIDs(old, out); len(stale) > 0 { // retried or gone since
			if err := s.c.ZRem(ctx, s.stuckKey(), stale...).Err(); err != nil {
				s.log.WarnContext(ctx, "catga: saga store: dropping stale stuck entries", "err", err)
			}
		}
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return out, nil
	case state.Final():
		return sagastore.ListFinal(ctx, s, state, limit)
	}
	return nil, fmt.Errorf("catga: redis saga store: list: unknown state %q", state)
}

// ListPage implements sagastore.Store: the ids of the due index (one
// ZRANGE per shard) or of the stuck index, then the records of one page.
func (s *Store) ListPage(ctx context.Context, state sagastore.State, cursor string, limit int) (sagastore.Page, error) {
	return sagastore.ListPage(ctx, s, s.stuckIDs, state, cursor, limit)
}

func (s *Store) stuckIDs(ctx context.Context) ([]string, error) {
	ids, err := s.c.ZRange(ctx, s.stuckKey(), 0, -1).Result()
	if err != nil {
		return nil, s.checkErr(ctx, "list stuck", err)
	}
	return ids, nil
}

// staleIDs returns the ids with no record in recs.
func staleIDs(ids []string, recs []sagastore.Record) []any {
	have := make(map[string]bool, len(recs))
	for _, r := range recs {
		have[r.ID] = true
	}
	var stale []any
	for _, id := range ids {
		if !have[id] {
			stale = append(stale, id)
		}
	}
	return stale
}

// Scan implements sagastore.Scanner by scanning every master.
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

// scanAll calls fn, one call at a time, with every record that decodes.
func (s *Store) scanAll(ctx context.Context, fn func(sagastore.Record)) error {
	var mu sync.Mutex
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, s.prefix+":saga:{*", 500).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			id := strings.TrimSuffix(strings.TrimPrefix(key, s.prefix+":saga:{"), "}")
			vals, err := c.HMGet(ctx, key, "v", "d").Result()
			if err != nil {
				return err
			}
			rec, err := decode(id, vals)
			if err != nil {
				continue // corrupt or vanished records are not listed
			}
			mu.Lock()
			fn(rec)
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if s.cluster != nil {
		err = s.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.c)
	}
	return s.checkErr(ctx, "scan", err)
}
