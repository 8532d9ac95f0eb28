// Package domain is the notification service's model, without I/O: the
// notification a customer gets when an order completes or is cancelled,
// built from the order service's contract events.
package domain
