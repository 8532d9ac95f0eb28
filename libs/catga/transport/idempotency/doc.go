// Package idempotency deduplicates handled messages by id across peers: the
// first peer to claim an id runs the handler and stores its reply; every
// later or concurrent delivery of the same id gets that reply instead of
// running the handler again. The holder renews its claim while the handler
// runs, so only a dead holder's claim lapses and passes to another peer;
// a holder whose claim was taken over changes nothing when it completes
// (ErrClaimLost). Memory is for one process (and tests);
// redisstore (Redis) and natstransport.KVStore (a JetStream bucket, the
// NATS transport's default) share the claims between peers.
package idempotency
