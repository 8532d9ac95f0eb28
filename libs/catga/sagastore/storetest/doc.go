// Package storetest is the conformance suite of sagastore.Store
// implementations, in the shape of watermill's pubsub/tests: a store's test
// calls [Run] with a [Harness] (how to get an isolated store) whose
// [Features] say what the store can do; every case is exported ([Cases])
// so a store can run one alone. [CheckRecoverable] states the engine's
// invariant, every active saga in the due index, for tests that drive
// sagas over a store.
package storetest
