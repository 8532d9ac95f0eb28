// Package service wires the inventory service onto the peer chassis: its event
// types, the saga fence over its event store, the NATS handlers of its saga
// steps and its HTTP API.
package service

import (
	"context"
	"fmt"

	"github.com/catga-go/catga/libs/catga/httpapi"
	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/services/inventory/adapters"
	"github.com/catga-go/catga/services/inventory/app"
	"github.com/catga-go/catga/services/inventory/ports"
)

// Name is the service's name: its queue groups, discovery entry, database
// schema and default SQLite file are named after it.
const Name = "inventory"

// New describes the inventory service to the chassis: a peer reserves and releases stock for orders, all lines or none.
func New() peer.Service {
	return peer.Service{Name: Name, Events: adapters.RegisterEvents, Setup: setup}
}

func setup(_ context.Context, p *peer.Peer) error {
	fence, err := p.Events.Fence()
	if err != nil {
		return fmt.Errorf("%s: saga fence: %w", Name, err)
	}
	svc := app.New(p.Events, fence)
	if err := ports.ServeNATS(p.Transport, p.Mediator, svc); err != nil {
		return fmt.Errorf("%s: serve NATS: %w", Name, err)
	}
	ports.MountHTTP(p.HTTP, svc, httpapi.WithLogger(p.Logger))
	return nil
}
