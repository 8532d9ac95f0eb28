// Package natskv is a [sagastore.Store] over NATS JetStream key-value
// buckets: the embedded default, shared by peers in separate processes
// through one (embedded) nats-server.
//
// Records live in one bucket, keyed by saga id, with compare-and-set on the
// key's revision (KeyValue.Update); the revision is the record Version. The
// due index is a second bucket mapping saga id to the lease expiry in Unix
// milliseconds. Due lists that bucket, which holds active sagas only, so it
// stays small. The finished index is another bucket, one key per finished
// saga and state, created with the retention as its TTL (the server trims
// it) before the final record is written: finishing costs one more round
// trip here, as JetStream cannot write two buckets atomically. Its stream's
// order is the listing order.
package natskv
