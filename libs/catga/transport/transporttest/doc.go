// Package transporttest is the conformance suite every transport.Transport
// must pass: the in-memory one and the NATS one run the same tests, so the
// memory transport is a faithful stand-in.
package transporttest
