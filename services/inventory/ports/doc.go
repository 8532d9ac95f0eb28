// Package ports are the inventory service's edges: the NATS handlers of
// the saga steps (contracts.InventoryReserve and contracts.InventoryRelease)
// and the HTTP API for stock. Each maps the domain's errors to its
// protocol.
package ports
