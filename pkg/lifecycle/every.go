package lifecycle

import (
	"context"
	"log/slog"
	"time"
)

// Every is a Worker's Run that calls fn once per interval until the stop. A
// failure is logged (as "<what> failed") and the next tick tries again: the
// periodic jobs it serves are clean-ups that any replica may run at any time.
func Every(interval time.Duration, log *slog.Logger, what string, fn func(ctx context.Context, now time.Time) error) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case now := <-t.C:
				if err := fn(ctx, now); err != nil && ctx.Err() == nil {
					log.Warn(what+" failed", "error", err)
				}
			}
		}
	}
}
