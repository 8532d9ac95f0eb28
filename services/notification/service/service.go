// Package service wires the notification service into a peer: its event
// type, its sender (chosen by [EnvWebhookURL]), its consumers and its HTTP
// API.
package service

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/catga-go/catga/libs/catga/peer"
	"github.com/catga-go/catga/services/notification/adapters"
	"github.com/catga-go/catga/services/notification/app"
	"github.com/catga-go/catga/services/notification/ports"
)

// Name is the service's name.
const Name = "notification"

// EnvWebhookURL, when set, makes the service POST every notification to
// that URL (adapters.WebhookSender) instead of logging it.
const EnvWebhookURL = "CATGA_WEBHOOK_URL"

// New describes the notification service to the peer chassis.
func New() peer.Service {
	return peer.Service{Name: Name, Events: app.RegisterEvents, Setup: setup}
}

func setup(_ context.Context, p *peer.Peer) error {
	sender, err := senderFromEnv(p)
	if err != nil {
		return err
	}
	svc := app.New(p.Events, sender, p.Logger)
	ports.Mount(p.HTTP, svc, p.Logger)
	return ports.Consume(p.Transport, p.Mediator, p.Config.Service, svc)
}

func senderFromEnv(p *peer.Peer) (app.Sender, error) {
	u := strings.TrimSpace(os.Getenv(EnvWebhookURL))
	if u == "" {
		return adapters.LogSender{Logger: p.Logger}, nil
	}
	s, err := adapters.NewWebhookSender(adapters.WebhookConfig{URL: u})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvWebhookURL, err)
	}
	return s, nil
}
