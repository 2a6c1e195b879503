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
	return insertOutboxRow(ctx, q, ev.ID, ev.Subject(), payload)
}

// insertRevocation is insertOutbox for the SESSIONS stream's payload type.
func insertRevocation(ctx context.Context, q querier, rev events.Revocation) error {
	payload, err := events.EncodeRevocation(rev)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return insertOutboxRow(ctx, q, rev.ID, rev.Subject(), payload)
}

// insertOutboxRow stores an encoded event with the trace context of ctx.
func insertOutboxRow(ctx context.Context, q querier, id, subject string, payload []byte) error {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if _, err := q.Exec(ctx,
		`INSERT INTO outbox (id, subject, payload, trace_headers) VALUES ($1, $2, $3, $4)`,
		id, subject, payload, map[string]string(carrier)); err != nil {
		return fmt.Errorf("outbox insert: %w", err)
	}
	return nil
}
