package pgstore

import "strings"

// queries holds every statement of the store, with its table names filled in.
type queries struct {
	inboxInsert, streamNew, streamUpdate, streamAny, streamVersion string
	insertEvents, load, readAll                                    string
	saveSnapshot, loadSnapshot, deleteSnapshot                     string
	claim, markPublished                                           string
	holdFailed, parkFailed, outboxStats, parked, requeue           string
	readFeed, loadCheckpoint, saveCheckpoint                       string
	deleteStream, tombstoneNew, raiseStreamTx                      string
	// One-statement appends by expected-version mode: see appendFast.
	fastNew, fastExpected, fastAny     string
	pruneInbox                         string
	fenceLock, fenceUpdate, fencePrune string
}

func newQueries(p string, outbox bool) queries {
	// An append writes its outbox entries in the statement that inserts its
	// events, unless the store has no outbox.
	ob := func(stream string) string {
		if !outbox {
			return ""
		}
		return `, ob AS (
	INSERT INTO ` + p + `outbox (position, stream_id) SELECT position, ` + stream + ` FROM ins
)`
	}
	r := strings.NewReplacer("{p}", p, "{outbox $1}", ob("$1"), "{outbox $2}", ob("$2"))
	// The stream row is claimed first (its RETURNING feeds the inserts), so
	// a refused append inserts nothing and, being one statement, commits
	// nothing.
	fast := func(stream string) string {
		return r.Replace(`WITH st AS (` + stream + `),
ins AS (
	INSERT INTO {p}events (id, stream_id, version, type, data, correlation_id, causation_id, trace_context, tx, metadata)
	SELECT u.id, $1, st.version - $3 + u.ord, u.type, u.data::json, $7, $8, $9, st.tx, u.meta
	FROM st, unnest($4::text[], $5::text[], $6::text[], $10::text[]) WITH ORDINALITY AS u(id, type, data, meta, ord)
	ORDER BY u.ord
	RETURNING position, version, recorded_at
){outbox $1}
SELECT st.version, ins.position, ins.version, ins.recorded_at
FROM (SELECT $2::bigint AS expected) AS one LEFT JOIN st ON true LEFT JOIN ins ON true
ORDER BY ins.version`)
	}
	return queries{
		fastNew:       fast(`INSERT INTO {p}streams (stream_id, version, tx) VALUES ($1, $3, pg_current_xact_id()) ON CONFLICT DO NOTHING RETURNING version, tx`),
		fastExpected:  fast(`UPDATE {p}streams SET version = $2::bigint + $3, tx = greatest(tx, pg_current_xact_id()) WHERE stream_id = $1 AND version = $2 AND NOT deleted RETURNING version, tx`),
		fastAny:       fast(`INSERT INTO {p}streams AS s (stream_id, version, tx) VALUES ($1, $3, pg_current_xact_id()) ON CONFLICT (stream_id) DO UPDATE SET version = s.version + EXCLUDED.version, tx = greatest(s.tx, EXCLUDED.tx) WHERE NOT s.deleted RETURNING s.version, s.tx`),
		inboxInsert:   r.Replace(`INSERT INTO {p}inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`),
		streamNew:     r.Replace(`INSERT INTO {p}streams (stream_id, version, tx) VALUES ($1, $2, pg_current_xact_id()) ON CONFLICT DO NOTHING RETURNING version, tx::text`),
		streamUpdate:  r.Replace(`UPDATE {p}streams SET version = $3, tx = greatest(tx, pg_current_xact_id()) WHERE stream_id = $1 AND version = $2 AND NOT deleted RETURNING version, tx::text`),
		streamAny:     r.Replace(`INSERT INTO {p}streams AS s (stream_id, version, tx) VALUES ($1, $2, pg_current_xact_id()) ON CONFLICT (stream_id) DO UPDATE SET version = s.version + EXCLUDED.version, tx = greatest(s.tx, EXCLUDED.tx) WHERE NOT s.deleted RETURNING s.version, s.tx::text`),
		streamVersion: r.Replace(`SELECT coalesce(max(version), 0), coalesce(bool_or(deleted), false) FROM {p}streams WHERE stream_id = $1`),
		// One round trip: events and their outbox entries.
		insertEvents: r.Replace(`WITH ins AS (
	INSERT INTO {p}events (id, stream_id, version, type, data, correlation_id, causation_id, trace_context, tx, metadata)
	SELECT u.id, $2, u.version, u.type, u.data::json, $6, $7, $8, $9::text::xid8, u.meta
	FROM unnest($1::text[], $3::bigint[], $4::text[], $5::text[], $10::text[]) WITH ORDINALITY AS u(id, version, type, data, meta, ord)
	ORDER BY u.ord
	RETURNING position, version, recorded_at
){outbox $2}
SELECT ins.position, ins.recorded_at FROM ins ORDER BY ins.version`),
		load: r.Replace(`SELECT position, id, stream_id, version, type, data::text, correlation_id, causation_id, recorded_at, trace_context, metadata FROM {p}events WHERE stream_id = $1 AND version > $2
AND NOT EXISTS (SELECT 1 FROM {p}streams WHERE stream_id = $1 AND deleted) ORDER BY version`),
		readAll: r.Replace(`SELECT position, id, stream_id, version, type, data::text, correlation_id, causation_id, recorded_at, trace_context, metadata FROM {p}events WHERE position > $1 ORDER BY position LIMIT $2`),
		saveSnapshot: r.Replace(`INSERT INTO {p}snapshots AS s (stream_id, version, type, data, schema_version) VALUES ($1, $2, $3, $4::json, $5)
ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, type = EXCLUDED.type, data = EXCLUDED.data, schema_version = EXCLUDED.schema_version, taken_at = now()
WHERE s.version <= EXCLUDED.version OR s.schema_version <> EXCLUDED.schema_version`),
		loadSnapshot:   r.Replace(`SELECT version, type, data::text, schema_version FROM {p}snapshots WHERE stream_id = $1`),
		deleteSnapshot: r.Replace(`DELETE FROM {p}snapshots WHERE stream_id = $1`),
		// One statement claims: only the oldest pending entry of a stream is
		// eligible, and locking it (SKIP LOCKED: another relay has it) stands
		// for locking the stream. Heads are searched among the oldest $2
		// entries of streams that are not held after a failure: a stream with
		// any entry there has its head there too, a failing stream cannot fill
		// the window, and the search stays cheap when a few streams have long
		// backlogs. Then the locked streams' oldest entries, which no other
		// relay can hold now, cut by rank within the stream rather than by
		// age, so every claimed stream's head is in the claim and a stream
		// with a long backlog cannot crowd the others out.
		claim: r.Replace(`WITH w AS (
	SELECT position FROM {p}outbox
	WHERE stream_id NOT IN (SELECT stream_id FROM {p}outbox WHERE retry_at > now())
	ORDER BY position LIMIT $2
), heads AS (
	SELECT o.stream_id FROM {p}outbox o JOIN w ON w.position = o.position
	WHERE NOT EXISTS (SELECT 1 FROM {p}outbox e WHERE e.stream_id = o.stream_id AND e.position < o.position)
	ORDER BY o.position LIMIT $1 FOR UPDATE OF o SKIP LOCKED
)
SELECT * FROM (
	SELECT e.position, e.id, e.stream_id, e.version, e.type, e.data::text, e.correlation_id, e.causation_id, e.recorded_at, e.trace_context, e.metadata, o.attempts
	FROM heads
	CROSS JOIN LATERAL (
		SELECT position, attempts, row_number() OVER (ORDER BY position) AS rank
		FROM {p}outbox o WHERE o.stream_id = heads.stream_id ORDER BY position LIMIT $1) o
	JOIN {p}events e ON e.position = o.position
	ORDER BY o.rank, e.position LIMIT $1) c
ORDER BY position`),
		holdFailed: r.Replace(`UPDATE {p}outbox o SET attempts = o.attempts + 1, retry_at = clock_timestamp() + f.wait * interval '1 microsecond', last_error = f.reason
FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS f(position, wait, reason) WHERE o.position = f.position`),
		parkFailed: r.Replace(`WITH d AS (
	DELETE FROM {p}outbox o USING unnest($1::bigint[], $2::text[]) AS f(position, reason)
	WHERE o.position = f.position RETURNING o.position, o.stream_id, o.attempts, f.reason)
INSERT INTO {p}outbox_parked (position, stream_id, attempts, reason) SELECT position, stream_id, attempts + 1, reason FROM d`),
		outboxStats: r.Replace(`SELECT count(*), count(*) FILTER (WHERE retry_at > now()), (SELECT count(*) FROM {p}outbox_parked),
	(SELECT e.recorded_at FROM {p}events e WHERE e.position = (SELECT min(position) FROM {p}outbox))
FROM {p}outbox`),
		parked: r.Replace(`SELECT e.position, e.id, e.stream_id, e.version, e.type, e.data::text, e.correlation_id, e.causation_id, e.recorded_at, e.trace_context, e.metadata, p.attempts, p.reason, p.parked_at
FROM {p}outbox_parked p JOIN {p}events e ON e.position = p.position ORDER BY p.position LIMIT $1`),
		requeue: r.Replace(`WITH d AS (DELETE FROM {p}outbox_parked WHERE position = $1 RETURNING position, stream_id)
INSERT INTO {p}outbox (position, stream_id) SELECT position, stream_id FROM d`),
		// Qualified names: the output column tx::text is also called tx, and
		// an unqualified ORDER BY tx would sort the text.
		readFeed: r.Replace(`SELECT e.tx::text, e.position, e.id, e.stream_id, e.version, e.type, e.data::text, e.correlation_id, e.causation_id, e.recorded_at, e.trace_context, e.metadata
FROM {p}events e WHERE (e.tx, e.position) > ($1::text::xid8, $2::bigint) AND e.tx < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY e.tx, e.position LIMIT $3`),
		deleteStream:   r.Replace(`UPDATE {p}streams SET deleted = true WHERE stream_id = $1 AND NOT deleted AND ($2 = -1 OR version = $2)`),
		raiseStreamTx:  r.Replace(`UPDATE {p}streams SET tx = $2::text::xid8 WHERE stream_id = ANY($1) AND tx < $2::text::xid8`),
		tombstoneNew:   r.Replace(`INSERT INTO {p}streams (stream_id, version, deleted) VALUES ($1, 0, true) ON CONFLICT DO NOTHING`),
		loadCheckpoint: r.Replace(`SELECT tx::text, position FROM {p}checkpoints WHERE name = $1`),
		saveCheckpoint: r.Replace(`INSERT INTO {p}checkpoints (name, tx, position) VALUES ($1, $2::text::xid8, $3)
ON CONFLICT (name) DO UPDATE SET tx = EXCLUDED.tx, position = EXCLUDED.position, saved_at = now()`),
		markPublished: r.Replace(`DELETE FROM {p}outbox WHERE position = ANY($1)`),
		pruneInbox:    r.Replace(`DELETE FROM {p}inbox WHERE processed_at < $1`),
		// One round trip: inserts the row if missing, and in both cases
		// locks it (a conflicting DO UPDATE locks the row) and returns it.
		fenceLock: r.Replace(`INSERT INTO {p}saga_fences (saga_id) VALUES ($1)
ON CONFLICT (saga_id) DO UPDATE SET saga_id = EXCLUDED.saga_id RETURNING record`),
		fenceUpdate: r.Replace(`UPDATE {p}saga_fences SET record = $2, updated_at = now() WHERE saga_id = $1`),
		fencePrune:  r.Replace(`DELETE FROM {p}saga_fences WHERE updated_at < $1`),
	}
}
