// Package adapters connects the order service to the participants of its
// saga over the transport: payment and inventory, through the routes of
// the contracts package.
package adapters
