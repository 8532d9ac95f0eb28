package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Peer is a running instance, handed to the service's setup function.
type Peer struct {
	Config Config
	Conn   *nats.Conn
	Logger *slog.Logger
	// Service is the discovery registration; setup may add endpoints to it.
	Service micro.Service
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
func Run(ctx context.Context, cfg Config, setup func(ctx context.Context, p *Peer) error, opts ...Option) error {
	o := options{logger: slog.New(slog.DiscardHandler), drainTimeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	closed := make(chan struct{})
	nc, err := nats.Connect(strings.Join(cfg.NATSURLs, ","),
		nats.Name(cfg.Service),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		// A dead server must be noticed in about a second, not after the
		// two-minute default ping interval.
		nats.PingInterval(500*time.Millisecond),
		nats.MaxPingsOutstanding(2),
		nats.DrainTimeout(o.drainTimeout),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	)
	if err != nil {
		return fmt.Errorf("catga: %s: connect to NATS %v: %w", cfg.Service, cfg.NATSURLs, err)
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        cfg.Service,
		Version:     cfg.Version,
		Description: "Catga service " + cfg.Service,
	})
	if err != nil {
		nc.Close()
		return fmt.Errorf("catga: %s: register for discovery: %w", cfg.Service, err)
	}
	p := &Peer{Config: cfg, Conn: nc, Logger: o.logger, Service: svc}
	if err := setup(ctx, p); err != nil {
		_ = svc.Stop()
		nc.Close()
		return fmt.Errorf("catga: %s: setup: %w", cfg.Service, err)
	}
	o.logger.Info("peer started", "service", cfg.Service, "id", svc.Info().ID, "nats", nc.ConnectedUrlRedacted())

	<-ctx.Done()
	o.logger.Info("peer stopping", "service", cfg.Service)
	stopErr := svc.Stop()
	drainErr := nc.Drain()
	select {
	case <-closed:
	case <-time.After(o.drainTimeout + time.Second):
		drainErr = errors.Join(drainErr, fmt.Errorf("connection not closed %s after drain started", o.drainTimeout))
	}
	if err := errors.Join(stopErr, drainErr); err != nil {
		return fmt.Errorf("catga: %s: shutdown: %w", cfg.Service, err)
	}
	return nil
}
