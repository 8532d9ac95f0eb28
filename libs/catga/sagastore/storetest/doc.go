// Package storetest is the conformance suite of sagastore.Store: every
// implementation runs [Run] against a real instance of its backend.
package storetest
