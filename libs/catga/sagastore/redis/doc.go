// Package redis is a [sagastore.Store] over redis.UniversalClient, so one
// code path serves a single Redis node and a Redis Cluster.
//
// Layout: a saga is one hash "<prefix>:saga:{<id>}" with fields v (version)
// and d (the JSON record); every key of a saga carries the {<id>} hash tag.
// A transition is one EVALSHA of a compare-and-set script on v: one round
// trip. The due index is a sorted set per shard, "<prefix>:due:{<n>}", so
// its writes and scans spread over several hash slots (and so nodes).
// Create adds the saga to the index before writing the record, through a
// group commit that concurrent creates share (one pipelined ZADD per shard
// per flush), so under load a saga costs little more than one round trip per
// transition. Updates never touch the due index: the engine keeps it a
// superset of the active sagas and prunes it in batches.
//
// The finished index of each final state is a sorted set per shard,
// "<prefix>:fin:<state>:{<n>}", scored by server time. The update script
// that makes a record final adds it to a shard whose slot is on the
// record's node, in the same atomic script (Redis 7's allow-cross-slot-keys
// flag lets a script reach keys of other slots on its node), so finishing
// still costs one round trip; when the node holds no shard (few shards,
// many nodes) the entry is written first by a call of its own. Each add
// trims up to 4 entries past the retention (WithFinishedRetention). The
// first listing of a store that kept no finished index migrates it once
// (a scan of every record) and leaves a marker key.
//
// Cluster failover: go-redis keeps sending to a dead master's address after
// a failover until its slot map is reloaded (go-redis#3979). The store
// reloads the map (ClusterClient.ReloadState) on every connection, MOVED,
// CLUSTERDOWN or READONLY error and every ReloadInterval, which bounds the
// write outage after a master kill to about cluster-node-timeout plus the
// reload interval.
package redis
