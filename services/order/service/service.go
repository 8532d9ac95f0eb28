// Package service wires the order service into a peer: its event types,
// the order saga on the peer's engine, the HTTP API, the order.placed
// consumer, the read model's subscription and the stranded-saga backstop.
package service

import (
	"context"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/services/order/adapters"
	"github.com/catga-go/catga/services/order/app"
	"github.com/catga-go/catga/services/order/ports"
)

// Name is the service's name.
const Name = "order"

// How the backstop for sagas that never started runs: an order pending for
// StrandedAge without a saga gets one, checked every StrandedEvery.
const (
	StrandedAge   = 30 * time.Second
	StrandedEvery = 10 * time.Second
)

// New describes the order service to the peer chassis.
func New() peer.Service {
	return peer.Service{Name: Name, Events: app.RegisterEvents, Setup: setup}
}

func setup(_ context.Context, p *peer.Peer) error {
	parts := adapters.NewParticipants(p.Transport)
	svc, err := app.New(p.Events, p.Sagas, parts, parts, app.WithLogger(p.Logger))
	if err != nil {
		return err
	}
	ports.Mount(p.HTTP, svc, p.Logger)
	if err := ports.Consume(p.Transport, p.Mediator, p.Config.Service, svc); err != nil {
		return err
	}
	// The view is in memory, so its checkpoint is too: each peer rebuilds
	// it from the start of the feed.
	view := svc.View()
	sub, err := eventstore.NewSubscription(p.Events, view, "orders-view", view.Apply, eventstore.WithPollInterval(50*time.Millisecond))
	if err != nil {
		return err
	}
	p.Go("orders-view", sub.Run)
	p.Go("stranded-sagas", func(ctx context.Context) error {
		t := time.NewTicker(StrandedEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			if _, err := svc.StartStranded(ctx, StrandedAge); err != nil && ctx.Err() == nil {
				p.Logger.WarnContext(ctx, "starting stranded order sagas failed; trying again later", "err", err)
			}
		}
	})
	return nil
}
