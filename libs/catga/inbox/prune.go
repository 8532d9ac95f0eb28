package inbox

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// RunPruner deletes inbox records older than retain every interval until
// ctx ends (then it returns nil). Failures are logged and retried at the
// next interval. Choose retain longer than any message can be redelivered
// (see [Pruner]).
func RunPruner(ctx context.Context, p Pruner, retain, interval time.Duration, log *slog.Logger) error {
	if p == nil || retain <= 0 || interval <= 0 {
		return errors.New("catga: inbox: pruner needs a Pruner and positive retain and interval")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := p.Prune(ctx, time.Now().Add(-retain))
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("catga: inbox: prune failed", "err", err)
		case n > 0:
			log.Debug("catga: inbox: pruned", "records", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
