package peer

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// RunProcess is the body of a service's main: it runs one peer of service,
// configured from the environment ([ConfigFromEnv]) and logging to stderr,
// until SIGINT or SIGTERM, then shuts down in order.
func RunProcess(service string, setup func(ctx context.Context, p *Peer) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return Run(ctx, ConfigFromEnv(service), setup, WithLogger(logger))
}
