package redis

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// The finished index of a final state is a sorted set per shard,
// "<prefix>:fin:<state>:{<n>}" (the due index's shard tags), of saga ids
// scored by the Redis server time in microseconds at which they joined it.
// Scores are server time, so peers' clock skew does not reorder it.
//
// A saga's record names its entry, "<shard key> <score>", in its hash
// field "fin:<state>" (its mark), set by the write that indexed it. A saga
// is indexed once per state (a record with the mark is not indexed again),
// and ListFinished lists only the entry its record names: an entry written
// for a write that then failed, or a second one (written by a retry after
// the topology changed, or by the migration racing a final write) is
// skipped, so no saga is listed twice.

// finishedLua adds member to the finished-index shard idx unless it is
// there already (an entry never moves), after removing up to 4 entries
// older than keep microseconds: trimming twice as fast as a shard grows
// keeps it within the retention at a bounded cost per write.
const finishedLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local old = redis.call('ZRANGEBYSCORE', idx, '-inf', string.format('%.0f', now - tonumber(keep)), 'LIMIT', 0, 4)
if #old > 0 then redis.call('ZREM', idx, unpack(old)) end
redis.call('ZADD', idx, 'NX', string.format('%.0f', now), member)`

// indexScript is finishedLua on its own, for a record whose node holds no
// finished-index shard; it returns the entry, "<shard key> <score>".
var indexScript = redis.NewScript(`local idx, keep, member = KEYS[1], ARGV[1], ARGV[2]` + finishedLua + `
return idx .. ' ' .. redis.call('ZSCORE', idx, member)`)

// markField is the record's hash field naming its entry in state's index.
func markField(state sagastore.State) string { return "fin:" + string(state) }

// pageScript returns, from shard KEYS[1], up to ARGV[3] entries (member,
// score, ...) after (score ARGV[1], member ARGV[2]) in (score, member)
// order.
var pageScript = redis.NewScript(`
local cs, cid, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local out, off = {}, 0
while #out < 2 * n do
  local b = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', off, n)
  if #b == 0 then break end
  for i = 1, #b, 2 do
    if #out < 2 * n and (tonumber(b[i + 1]) > cs or b[i] > cid) then
      out[#out + 1] = b[i]
      out[#out + 1] = b[i + 1]
    end
  end
  off = off + #b / 2
end
return out`)

func (s *Store) finishedKey(state sagastore.State, n int) string {
	return s.prefix + ":fin:" + string(state) + ":{" + strconv.Itoa(n) + "}"
}

func (s *Store) migratedKey() string { return s.prefix + ":fin:migrated" }

// finishedShard picks the finished-index shard of saga id in state: on a
// cluster, one whose slot is served by the node of the record's slot, so
// that the update script can write both (local reports whether it found
// one; with a few shards per node it nearly always does).
func (s *Store) finishedShard(ctx context.Context, id string, state sagastore.State) (key string, local bool) {
	first := s.shardNum(id)
	if s.cluster == nil {
		return s.finishedKey(state, first), true
	}
	node, err := s.cluster.MasterForKey(ctx, s.Key(id))
	if err != nil {
		return s.finishedKey(state, first), false
	}
	for i := range s.shards {
		k := s.finishedKey(state, (first+i)%s.shards)
		if m, err := s.cluster.MasterForKey(ctx, k); err == nil && m.Options().Addr == node.Options().Addr {
			return k, true
		}
	}
	return s.finishedKey(state, first), false
}

// indexFinished adds saga id to its state's finished index on its own (a
// round trip), for writes that cannot do it in the record's script; it
// runs before the record is written, so an entry may exist whose record
// never became final (ListFinished skips it), never the reverse.
func (s *Store) indexFinished(ctx context.Context, id string, state sagastore.State) (entry string, err error) {
	entry, err = indexScript.Run(ctx, s.c, []string{s.finishedKey(state, s.shardNum(id))}, s.finRetention.Microseconds(), id).Text()
	return entry, s.checkErr(ctx, "index finished", err)
}

type finEntry struct {
	key   string // the shard
	id    string
	score int64
}

// mark is the value of the mark field of a record that e is the entry of.
func (e finEntry) mark() string { return e.key + " " + strconv.FormatInt(e.score, 10) }

func (e finEntry) cursor() string { return strconv.FormatInt(e.score, 10) + ":" + e.id }

func compareEntries(a, b finEntry) int {
	return cmp.Or(cmp.Compare(a.score, b.score), strings.Compare(a.id, b.id))
}

// ListFinished implements sagastore.Store. A cursor is "<score>:<id>" of
// the last entry read. A page costs one pipelined script per shard and one
// pipelined HMGET per record read, whatever the number of other sagas.
func (s *Store) ListFinished(ctx context.Context, state sagastore.State, cursor string, limit int) (sagastore.Page, error) {
	limit, err := sagastore.CheckFinal(state, limit)
	if err != nil {
		return sagastore.Page{}, err
	}
	after := finEntry{}
	if cursor != "" {
		sc, id, ok := strings.Cut(cursor, ":")
		n, err := strconv.ParseInt(sc, 10, 64)
		if !ok || err != nil {
			return sagastore.Page{}, fmt.Errorf("%w: %q", sagastore.ErrBadCursor, cursor)
		}
		after = finEntry{id: id, score: n}
	}
	if err := s.migrate(ctx); err != nil {
		return sagastore.Page{}, err
	}
	if cut := time.Now().Add(-s.finRetention).UnixMicro(); after.score < cut {
		after = finEntry{score: cut}
	}
	page := sagastore.Page{Next: cursor}
	for len(page.Records) < limit {
		entries, more, err := s.finishedAfter(ctx, state, after, limit-len(page.Records))
		if err != nil {
			return sagastore.Page{}, err
		}
		recs, err := s.getMany(ctx, state, entries)
		if err != nil {
			return sagastore.Page{}, err
		}
		for i, e := range entries {
			page.Next = e.cursor()
			if recs[i] != nil && recs[i].State == state {
				page.Records = append(page.Records, *recs[i])
			}
		}
		page.More = more
		if !more {
			break
		}
		after = entries[len(entries)-1]
	}
	return page, nil
}

// finishedAfter returns the first n entries of state's finished index
// after e, and whether there may be more.
func (s *Store) finishedAfter(ctx context.Context, state sagastore.State, e finEntry, n int) ([]finEntry, bool, error) {
	pipe := s.c.Pipeline()
	cmds := make([]*redis.Cmd, s.shards)
	for i := range cmds {
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT, and
		// listing is rare enough to send the script.
		cmds[i] = pageScript.Eval(ctx, pipe, []string{s.finishedKey(state, i)}, e.score, e.id, n)
	}
	_, _ = pipe.Exec(ctx) // errors are per command, below
	var all []finEntry
	more := false
	for shard, c := range cmds {
		vals, err := c.StringSlice()
		if err != nil {
			return nil, false, s.checkErr(ctx, "list finished", err)
		}
		more = more || len(vals) == 2*n
		for i := 0; i+1 < len(vals); i += 2 {
			sc, err := strconv.ParseInt(vals[i+1], 10, 64)
			if err != nil {
				return nil, false, fmt.Errorf("catga: redis saga store: finished index score %q: %w", vals[i+1], err)
			}
			all = append(all, finEntry{key: s.finishedKey(state, shard), id: vals[i], score: sc})
		}
	}
	slices.SortFunc(all, compareEntries)
	if len(all) > n {
		all, more = all[:n], true
	}
	return all, more, nil
}

// getMany reads the records of entries in one pipeline; nil for a record
// that is missing, does not decode, or names another entry (see mark).
func (s *Store) getMany(ctx context.Context, state sagastore.State, entries []finEntry) ([]*sagastore.Record, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.SliceCmd, len(entries))
	for i, e := range entries {
		cmds[i] = pipe.HMGet(ctx, s.Key(e.id), "v", "d", markField(state))
	}
	_, _ = pipe.Exec(ctx)
	out := make([]*sagastore.Record, len(entries))
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			return nil, s.checkErr(ctx, "list finished", err)
		}
		vals := c.Val()
		if len(vals) != 3 || vals[2] != entries[i].mark() {
			continue
		}
		if rec, err := decode(entries[i].id, vals[:2]); err == nil {
			out[i] = &rec
		}
	}
	return out, nil
}

// migrate runs the one-time migration of sagas that finished before this
// store kept a finished index (their records exist, their entries do not):
// the first ListFinished of a store whose migration marker is missing scans
// every record once, indexes the final ones (scored by their UpdatedAt),
// and sets the marker. Peers migrating at once do no harm (an entry is
// added only if missing).
func (s *Store) migrate(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	s.migrateMu.Lock()
	defer s.migrateMu.Unlock()
	if s.migrated.Load() {
		return nil
	}
	n, err := s.c.Exists(ctx, s.migratedKey()).Result()
	if err != nil {
		return s.checkErr(ctx, "migrate finished index", err)
	}
	if n == 0 {
		if err := s.backfill(ctx); err != nil {
			return err
		}
	}
	s.migrated.Store(true)
	return nil
}

// backfill indexes the final records that have no mark, scored by their
// UpdatedAt, and sets the migration marker.
func (s *Store) backfill(ctx context.Context) error {
	cut := time.Now().Add(-s.finRetention)
	var final []sagastore.Record
	err := s.scanAll(ctx, func(rec sagastore.Record) {
		if rec.State.Final() && rec.UpdatedAt.After(cut) {
			final = append(final, rec)
		}
	})
	if err != nil {
		return err
	}
	// Entry first, then the mark where none is set (a record marked by a
	// final write since the upgrade keeps its entry; the migration's is
	// then skipped by ListFinished and trimmed with age). The score stored
	// may be an earlier, interrupted migration's, so it is read back.
	pipe := s.c.Pipeline()
	scores := make([]*redis.FloatCmd, len(final))
	for i, rec := range final {
		key := s.finishedKey(rec.State, s.shardNum(rec.ID))
		pipe.ZAddNX(ctx, key, redis.Z{Score: float64(rec.UpdatedAt.UnixMicro()), Member: rec.ID})
		scores[i] = pipe.ZScore(ctx, key, rec.ID)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return s.checkErr(ctx, "migrate finished index", err)
	}
	pipe = s.c.Pipeline()
	for i, rec := range final {
		e := finEntry{key: s.finishedKey(rec.State, s.shardNum(rec.ID)), id: rec.ID, score: int64(scores[i].Val())}
		pipe.HSetNX(ctx, s.Key(rec.ID), markField(rec.State), e.mark())
	}
	pipe.Set(ctx, s.migratedKey(), time.Now().UTC().Format(time.RFC3339), 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return s.checkErr(ctx, "migrate finished index", err)
	}
	s.log.InfoContext(ctx, "catga: saga store: finished index migrated", "sagas", len(final))
	return nil
}
