// Package ports are the payment service's edges: the NATS handlers of the
// saga steps (contracts.PaymentCharge and contracts.PaymentRefund) and the
// HTTP API for accounts. Each maps the domain's errors to its protocol.
package ports
