package postgres

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/kairos-platform/identity/pkg/events"
)

// insertOutbox writes ev to the outbox in the caller's transaction, with the
// trace context of ctx, so the relay's later publish joins the request's
// trace. It is the only way events enter the outbox.
func insertOutbox(ctx context.Context, q querier, ev events.Event) error {
	payload, err := events.Encode(ev)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if _, err := q.Exec(ctx,
		`INSERT INTO outbox (id, subject, payload, trace_headers) VALUES ($1, $2, $3, $4)`,
		ev.ID, ev.Subject(), payload, map[string]string(carrier)); err != nil {
		return fmt.Errorf("outbox insert: %w", err)
	}
	return nil
}
