// Package ports is the order service's edge: its HTTP API ([Mount]) and
// its consumer of the order.placed events that start the order saga
// ([Consume]).
package ports
