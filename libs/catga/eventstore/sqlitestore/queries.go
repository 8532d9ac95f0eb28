package sqlitestore

import "strings"

// queries holds every statement of the store, with its table names filled in.
type queries struct {
	inboxInsert, streamNew, streamUpdate, streamAny, streamVersion string
	insertEvent, insertOutbox, load, readAll                       string
	saveSnapshot, loadSnapshot, deleteSnapshot                     string
	takeLease, pending, markPublished, releaseLease                string
	claimable, holdFailed, parkFailed, deleteEntry                 string
	outboxStats, parked, requeue, deleteParked                     string
	loadCheckpoint, saveCheckpoint                                 string
	deleteStream, tombstoneNew                                     string
	dupEventID, pruneInbox                                         string
	fenceLoad, fenceSave, fencePrune                               string
}

func newQueries(p string) queries {
	r := strings.NewReplacer("{p}", p)
	const cols = `position, id, stream_id, version, type, data, correlation_id, causation_id, recorded_at, trace_context, metadata`
	return queries{
		inboxInsert:   r.Replace(`INSERT INTO {p}inbox (consumer, message_id, processed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
		streamNew:     r.Replace(`INSERT INTO {p}streams (stream_id, version) VALUES (?, ?) ON CONFLICT DO NOTHING`),
		streamUpdate:  r.Replace(`UPDATE {p}streams SET version = ? WHERE stream_id = ? AND version = ? AND NOT deleted`),
		streamAny:     r.Replace(`INSERT INTO {p}streams (stream_id, version) VALUES (?, ?) ON CONFLICT (stream_id) DO UPDATE SET version = version + excluded.version WHERE NOT deleted RETURNING version`),
		streamVersion: r.Replace(`SELECT coalesce(max(version), 0), coalesce(max(deleted), 0) FROM {p}streams WHERE stream_id = ?`),
		insertEvent:   r.Replace(`INSERT INTO {p}events (id, stream_id, version, type, data, correlation_id, causation_id, recorded_at, trace_context, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING position`),
		insertOutbox:  r.Replace(`INSERT INTO {p}outbox (position, stream_id) VALUES (?, ?)`),
		load: r.Replace(`SELECT ` + cols + ` FROM {p}events WHERE stream_id = ?1 AND version > ?2
AND NOT EXISTS (SELECT 1 FROM {p}streams WHERE stream_id = ?1 AND deleted) ORDER BY version`),
		readAll: r.Replace(`SELECT ` + cols + ` FROM {p}events WHERE position > ? ORDER BY position LIMIT ?`),
		saveSnapshot: r.Replace(`INSERT INTO {p}snapshots (stream_id, version, type, data, taken_at, schema_version) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, type = excluded.type, data = excluded.data, taken_at = excluded.taken_at, schema_version = excluded.schema_version
WHERE version <= excluded.version OR schema_version <> excluded.schema_version`),
		loadSnapshot:   r.Replace(`SELECT version, type, data, schema_version FROM {p}snapshots WHERE stream_id = ?`),
		deleteSnapshot: r.Replace(`DELETE FROM {p}snapshots WHERE stream_id = ?`),
		takeLease:      r.Replace(`UPDATE {p}outbox_lease SET owner = ?, until = ? WHERE id = 1 AND (owner = '' OR owner = ? OR until < ?)`),
		// The oldest entries of streams that are not held after a failure,
		// cut by rank within the stream rather than by age, so that every
		// stream in the window has its head in the claim and a stream with a
		// long backlog cannot crowd the others out.
		pending: r.Replace(`WITH w AS (
	SELECT position, stream_id, attempts FROM {p}outbox
	WHERE stream_id NOT IN (SELECT stream_id FROM {p}outbox WHERE retry_at > ?1)
	ORDER BY position LIMIT ?2
), c AS (
	SELECT position, attempts FROM (
		SELECT position, attempts, row_number() OVER (PARTITION BY stream_id ORDER BY position) AS rank FROM w)
	ORDER BY rank, position LIMIT ?3
)
SELECT e.position, e.id, e.stream_id, e.version, e.type, e.data, e.correlation_id, e.causation_id, e.recorded_at, e.trace_context, e.metadata, c.attempts
FROM c JOIN {p}events e ON e.position = c.position ORDER BY c.position`),
		claimable:  r.Replace(`SELECT EXISTS (SELECT 1 FROM {p}outbox WHERE retry_at <= ?)`),
		holdFailed: r.Replace(`UPDATE {p}outbox SET attempts = attempts + 1, retry_at = ?, last_error = ? WHERE position = ?`),
		parkFailed: r.Replace(`INSERT INTO {p}outbox_parked (position, stream_id, attempts, reason, parked_at)
SELECT position, stream_id, attempts + 1, ?, ? FROM {p}outbox WHERE position = ?`),
		deleteEntry: r.Replace(`DELETE FROM {p}outbox WHERE position = ?`),
		outboxStats: r.Replace(`SELECT count(*), count(*) FILTER (WHERE retry_at > ?), (SELECT count(*) FROM {p}outbox_parked),
	(SELECT e.recorded_at FROM {p}events e WHERE e.position = (SELECT min(position) FROM {p}outbox))
FROM {p}outbox`),
		parked: r.Replace(`SELECT e.position, e.id, e.stream_id, e.version, e.type, e.data, e.correlation_id, e.causation_id, e.recorded_at, e.trace_context, e.metadata, p.attempts, p.reason, p.parked_at
FROM {p}outbox_parked p JOIN {p}events e ON e.position = p.position ORDER BY p.position LIMIT ?`),
		requeue:        r.Replace(`INSERT INTO {p}outbox (position, stream_id) SELECT position, stream_id FROM {p}outbox_parked WHERE position = ?`),
		deleteParked:   r.Replace(`DELETE FROM {p}outbox_parked WHERE position = ?`),
		markPublished:  r.Replace(`DELETE FROM {p}outbox WHERE position IN (SELECT value FROM json_each(?))`),
		releaseLease:   r.Replace(`UPDATE {p}outbox_lease SET owner = '', until = 0 WHERE id = 1 AND owner = ?`),
		deleteStream:   r.Replace(`UPDATE {p}streams SET deleted = 1 WHERE stream_id = ? AND NOT deleted AND (?2 = -1 OR version = ?2)`),
		tombstoneNew:   r.Replace(`INSERT INTO {p}streams (stream_id, version, deleted) VALUES (?, 0, 1) ON CONFLICT DO NOTHING`),
		loadCheckpoint: r.Replace(`SELECT position FROM {p}checkpoints WHERE name = ?`),
		saveCheckpoint: r.Replace(`INSERT INTO {p}checkpoints (name, position, saved_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET position = excluded.position, saved_at = excluded.saved_at`),
		dupEventID: p + "events.id",
		pruneInbox: r.Replace(`DELETE FROM {p}inbox WHERE processed_at < ?`),
		fenceLoad:  r.Replace(`SELECT record FROM {p}saga_fences WHERE saga_id = ?`),
		fenceSave: r.Replace(`INSERT INTO {p}saga_fences (saga_id, record, updated_at) VALUES (?, ?, ?)
ON CONFLICT (saga_id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at`),
		fencePrune: r.Replace(`DELETE FROM {p}saga_fences WHERE updated_at < ?`),
	}
}
