package peer

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// RunProcess is the body of a service's main: it runs one peer of svc,
// configured from the environment ([ConfigFromEnv]) and logging JSON lines
// to stderr (level CATGA_LOG_LEVEL), until SIGINT or SIGTERM, then shuts
// down in order within CATGA_SHUTDOWN_TIMEOUT (a second signal kills it).
// A bad configuration stops it before it connects anywhere, with an error
// naming every bad variable.
func RunProcess(svc Service) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the default handling returns: a second
	// Ctrl-C ends a shutdown that takes too long.
	context.AfterFunc(ctx, stop)
	level, lerr := ParseLevel(os.Getenv(EnvLogLevel))
	logger := NewLogger(os.Stderr, level)
	cfg, err := ConfigFromEnv(svc.Name)
	if err := errors.Join(err, lerr); err != nil {
		logger.Error("invalid configuration", "service", svc.Name, "err", err)
		return err
	}
	if err := Run(ctx, cfg, svc, WithLogger(logger)); err != nil {
		logger.Error("peer failed", "service", svc.Name, "err", err)
		return err
	}
	return nil
}
