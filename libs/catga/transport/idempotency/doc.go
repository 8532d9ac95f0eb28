// Package idempotency deduplicates handled messages by id across peers: the
// first peer to claim an id runs the handler and stores its reply; every
// later or concurrent delivery of the same id gets that reply instead of
// running the handler again. Memory is for one process (and tests);
// redisstore (Redis) and natstransport.KVStore (a JetStream bucket, the
// NATS transport's default) share the claims between peers.
package idempotency
