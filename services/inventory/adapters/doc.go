// Package adapters holds the inventory service's storage format: the
// names its events are stored (and published) under.
package adapters
