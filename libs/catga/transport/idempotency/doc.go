// Package idempotency deduplicates handled messages by id across peers: the
// first peer to claim an id runs the handler and stores its reply; every
// later or concurrent delivery of the same id gets that reply instead of
// running the handler again. Memory is for one process (and tests); Redis
// shares the claims between peers.
package idempotency
