// Package e2e holds the end-to-end tests: they build the real service
// binaries and run them as separate processes against real servers, the way
// `make run` and a deployment do.
package e2e
