// Package sagastore defines where sagas keep their state: a [Store] holds one
// [Record] per saga, updated by compare-and-set on its version, plus an index
// of sagas whose lease may have expired so that any peer's recovery loop can
// find and claim them, and a finished index per final state, written by the
// transition that finishes a saga, that operators page through
// (Store.ListFinished, [Page]) without reading the sagas of other states;
// Store.ListPage pages through any state that way (the due index for
// Running and Compensating, the stuck index for Stuck).
//
// Implementations live in sub-packages: memory (unit tests, one process),
// natskv (NATS JetStream KV, the embedded default shared by peers through an
// embedded nats-server) and redis (a single Redis node or a Redis Cluster
// through redis.UniversalClient). storetest is the conformance suite every
// implementation passes.
package sagastore
