package natsx

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Backoff is the pause before retry number attempt (0 for the first retry):
// base doubled per attempt up to max, then ±20 % jitter so that callers that
// failed together do not retry together. The jitter is symmetric, so on
// average the pauses add up to the plain doubling series (the notifier's
// documented retry span relies on that).
func Backoff(attempt int, base, max time.Duration) time.Duration {
	if base <= 0 || max <= 0 {
		return 0
	}
	d := min(base, max)
	for i := 0; i < attempt && d < max; i++ {
		d = min(2*d, max)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Sleep waits for d or until ctx ends, whichever is first; it returns ctx's
// error in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retry tuning: each attempt is bounded by AttemptTimeout; pauses grow from
// retryBase to retryMax; after the first failure only every logEvery-th is
// logged, so an outage is one line a minute or so, not one per attempt.
const (
	AttemptTimeout = 5 * time.Second
	retryBase      = 200 * time.Millisecond
	retryMax       = 2 * time.Second
	logEvery       = 30
)

// Retry calls fn until it succeeds or ctx ends, each call bounded by
// AttemptTimeout, with jittered backoff between calls. The first failure is
// logged at WARN with what, then sparsely; a success after failures is
// logged at INFO. When ctx ends it returns ctx's error.
func Retry[T any](ctx context.Context, log *slog.Logger, what string, fn func(context.Context) (T, error)) (T, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, AttemptTimeout)
		v, err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info(what+": done", "attempts", attempt)
			}
			return v, nil
		}
		if ctx.Err() != nil {
			var zero T
			return zero, ctx.Err()
		}
		if attempt == 1 || attempt%logEvery == 0 {
			log.Warn(what+": failed; retrying", "err", err, "attempt", attempt)
		}
		if err := Sleep(ctx, Backoff(attempt-1, retryBase, retryMax)); err != nil {
			var zero T
			return zero, err
		}
	}
}

// EnsureStream creates or updates a stream, retrying until it works or ctx
// ends.
func EnsureStream(ctx context.Context, log *slog.Logger, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return Retry(ctx, log, "ensure stream "+cfg.Name, func(ctx context.Context) (jetstream.Stream, error) {
		return js.CreateOrUpdateStream(ctx, cfg)
	})
}
