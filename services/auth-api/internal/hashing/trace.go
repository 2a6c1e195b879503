package hashing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// tracerName is the instrumentation scope of the hashing spans.
const tracerName = "github.com/kairos-platform/identity/services/auth-api/internal/hashing"

// tracedAcquire is acquire in a span of its own, so that the wait for a slot
// is not an unlabelled gap in a signup's or a login's trace. The span carries
// the time waited and what became of the wait, nothing of the request.
func (h *Hasher) tracedAcquire(ctx context.Context, op string) (func(), error) {
	ctx, span := h.tracer.Start(ctx, "password "+op+" wait",
		trace.WithAttributes(attribute.Int("kairos.hash.slots", cap(h.slots))))
	defer span.End()
	start := time.Now()
	release, err := h.acquire(ctx)
	span.SetAttributes(attribute.Float64("kairos.hash.queue_wait_seconds", time.Since(start).Seconds()))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return release, err
}

// traced runs one argon2id computation (the hash of a signup, the check of a
// login) in a span with its cost parameters. Never the password, the salt or
// the hash.
func (h *Hasher) traced(ctx context.Context, op string, p passhash.Params, compute func()) {
	_, span := h.tracer.Start(ctx, "argon2id "+op, trace.WithAttributes(
		attribute.Int64("kairos.argon2.memory_kib", int64(p.MemoryKiB)),
		attribute.Int64("kairos.argon2.time", int64(p.Time)),
		attribute.Int("kairos.argon2.parallelism", int(p.Parallelism)),
	))
	defer span.End()
	compute()
}
