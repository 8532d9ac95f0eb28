// Package domain is the inventory service's model, free of I/O. Two kinds
// of event stream make it up: a SKU's stock (added, reserved and released
// for orders) and an order's reservation (the lines it holds). A
// reservation decides over the order's stream and the stream of every SKU
// it holds at once, so that the service can append to all of them in one
// transaction: every line is held, or none.
//
// The invariants the decisions keep: a SKU never has more reserved than on
// hand (available never goes below zero), and an order holds one
// reservation at a time, released once.
package domain
