package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

// relay is the outbox relay's lifecycle: Run until ctx ends, then nil.
type relay interface {
	Run(ctx context.Context) error
}

type relayOptions struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	Registerer     prometheus.Registerer
	StreamReplicas int
	Retention      time.Duration
}

// newRelay is a placeholder until internal/outbox lands: it publishes
// nothing and only waits for ctx.
func newRelay(_ *postgres.Store, _ jetstream.JetStream, _ relayOptions) (relay, error) {
	return idleRelay{}, nil
}

type idleRelay struct{}

func (idleRelay) Run(ctx context.Context) error { <-ctx.Done(); return nil }
