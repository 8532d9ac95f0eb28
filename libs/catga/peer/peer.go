package peer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// Peer is a running instance, handed to the service's setup function.
type Peer struct {
	Config Config
	// Transport is the peer's NATS transport, for transport.Serve, Route
	// and events.
	Transport *natstransport.Transport
	Conn      *nats.Conn // Transport's connection
	Logger    *slog.Logger
}

// Option configures [Run].
type Option func(*options)

type options struct {
	logger       *slog.Logger
	drainTimeout time.Duration
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithDrainTimeout bounds how long shutdown waits for in-flight messages.
func WithDrainTimeout(d time.Duration) Option { return func(o *options) { o.drainTimeout = d } }

// Run validates cfg, connects, registers the peer for discovery, calls setup
// and then blocks until ctx ends. Shutdown is ordered: the discovery
// registration is withdrawn first so no new request is routed here, then the
// connection is drained so that in-flight and queued messages are handled,
// then Run returns. setup must not block; it wires handlers and returns.
//
// The connection is the transport's, with its defaults (all server URLs, a
// dead server left within about a second, unlimited reconnects).
func Run(ctx context.Context, cfg Config, setup func(ctx context.Context, p *Peer) error, opts ...Option) error {
	o := options{logger: slog.New(slog.DiscardHandler), drainTimeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	tr, err := natstransport.Connect(natstransport.Config{
		URLs: cfg.NATSURLs, Name: cfg.Service, Service: cfg.Service, Version: cfg.Version, DrainTimeout: o.drainTimeout, Logger: o.logger,
	})
	if err != nil {
		return fmt.Errorf("catga: %s: connect to NATS %v: %w", cfg.Service, cfg.NATSURLs, err)
	}
	p := &Peer{Config: cfg, Transport: tr, Conn: tr.Conn(), Logger: o.logger}
	if err := setup(ctx, p); err != nil {
		_ = tr.Close()
		return fmt.Errorf("catga: %s: setup: %w", cfg.Service, err)
	}
	o.logger.Info("peer started", "service", cfg.Service, "id", tr.ID(), "nats", tr.Conn().ConnectedUrlRedacted())

	<-ctx.Done()
	o.logger.Info("peer stopping", "service", cfg.Service)
	if err := tr.Close(); err != nil {
		return fmt.Errorf("catga: %s: shutdown: %w", cfg.Service, err)
	}
	return nil
}
