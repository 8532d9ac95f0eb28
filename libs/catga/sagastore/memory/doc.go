// Package memory is an in-process [sagastore.Store] for unit tests and single
// process use. It passes the same conformance suite as the shared stores.
package memory
