package natskv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/sagastore"
)

// The finished index is a bucket "<bucket>_fin" with a key
// "<state>.<Key(id)>" per finished saga, valued with the time it was
// indexed (Unix milliseconds) and created with a TTL of the retention, so
// the server trims it. Its stream's sequence orders it: ListFinished reads
// the keys of one state in sequence order, by direct gets of the next
// message on "<state>.>" (a cursor is a sequence). A key is only ever
// created, never rewritten, so an entry never moves.
//
// Records and index are in two streams, which JetStream cannot write
// atomically: the index key is created first (one more round trip, for
// the final transition only), so an entry may exist whose record never
// became final (ListFinished skips it), never the reverse.

// migratedKey marks the one-time migration done (see migrate); it has no
// state prefix, so it is in no state's listing.
const migratedKey = "migrated"

func (s *Store) openFinished(ctx context.Context, js jetstream.JetStream, cfg Config, bucket bucketFunc) error {
	name := cfg.Bucket + "_fin"
	fin, err := bucket(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1,
		Replicas: cfg.Replicas, LimitMarkerTTL: markerTTL}) // LimitMarkerTTL enables the keys' TTLs
	if err != nil {
		return fmt.Errorf("catga: natskv: bucket %s: %w", name, err)
	}
	stream, err := js.Stream(ctx, "KV_"+name)
	if err != nil {
		return fmt.Errorf("catga: natskv: bucket %s: %w", name, err)
	}
	s.fin, s.finStream, s.finPrefix = fin, stream, "$KV."+name+"."
	return nil
}

// indexFinished adds a final rec to its state's finished index.
func (s *Store) indexFinished(ctx context.Context, rec sagastore.Record) error {
	if !rec.State.Final() {
		return nil
	}
	return s.addFinished(ctx, rec.State, rec.ID, time.Now(), s.retention)
}

func (s *Store) addFinished(ctx context.Context, state sagastore.State, id string, at time.Time, ttl time.Duration) error {
	_, err := s.fin.Create(ctx, string(state)+"."+Key(id), []byte(strconv.FormatInt(at.UnixMilli(), 10)), jetstream.KeyTTL(ttl))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("catga: natskv: index finished %s: %w", id, err)
	}
	return nil
}

// ListFinished implements sagastore.Store. A page costs a direct get per
// index entry read (and one more to learn whether there are more) and a
// get per record, whatever the number of other sagas.
func (s *Store) ListFinished(ctx context.Context, state sagastore.State, cursor string, limit int) (sagastore.Page, error) {
	limit, err := sagastore.CheckFinal(state, limit)
	if err != nil {
		return sagastore.Page{}, err
	}
	seq := uint64(0)
	if cursor != "" {
		if seq, err = strconv.ParseUint(cursor, 10, 64); err != nil {
			return sagastore.Page{}, fmt.Errorf("%w: %q", sagastore.ErrBadCursor, cursor)
		}
	}
	if err := s.migrate(ctx); err != nil {
		return sagastore.Page{}, err
	}
	page := sagastore.Page{Next: cursor}
	subject := s.finPrefix + string(state) + ".>"
	cut := time.Now().Add(-s.retention).UnixMilli()
	for {
		msg, err := s.finStream.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return page, nil
		}
		if err != nil {
			return sagastore.Page{}, fmt.Errorf("catga: natskv: list finished: %w", err)
		}
		if len(page.Records) == limit {
			page.More = true
			return page, nil
		}
		seq = msg.Sequence
		page.Next = strconv.FormatUint(seq, 10)
		at, err := strconv.ParseInt(string(msg.Data), 10, 64)
		if err != nil || at < cut || msg.Header.Get("KV-Operation") != "" {
			continue // a delete marker, or an entry past retention the server has yet to drop
		}
		rec, err := s.Get(ctx, idOf(strings.TrimPrefix(msg.Subject, s.finPrefix+string(state)+".")))
		switch {
		case errors.Is(err, sagastore.ErrNotFound), errors.Is(err, sagastore.ErrCorrupt):
		case err != nil:
			return sagastore.Page{}, err
		case rec.State == state:
			page.Records = append(page.Records, rec)
		}
	}
}

// migrate runs the one-time migration of sagas that finished before this
// store kept a finished index: the first ListFinished of a store whose
// marker key is missing reads every record once, indexes the final ones
// finished within the retention (with the TTL left to them), and creates
// the marker. They are indexed after the sagas that finished since the
// upgrade. Peers migrating at once do no harm (keys are only created).
func (s *Store) migrate(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	s.migrateMu.Lock()
	defer s.migrateMu.Unlock()
	if s.migrated.Load() {
		return nil
	}
	_, err := s.fin.Get(ctx, migratedKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		err = s.backfill(ctx)
	}
	if err != nil {
		return fmt.Errorf("catga: natskv: migrate finished index: %w", err)
	}
	s.migrated.Store(true)
	return nil
}

func (s *Store) backfill(ctx context.Context) error {
	var final []sagastore.Record
	if err := s.scanAll(ctx, func(rec sagastore.Record) {
		if rec.State.Final() {
			final = append(final, rec)
		}
	}); err != nil {
		return err
	}
	for _, rec := range final {
		if left := s.retention - time.Since(rec.UpdatedAt); left > 0 {
			if err := s.addFinished(ctx, rec.State, rec.ID, rec.UpdatedAt, max(left, time.Second)); err != nil {
				return err
			}
		}
	}
	if _, err := s.fin.Create(ctx, migratedKey, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	return nil
}
