package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/services/auth-api/internal/outbox"
)

// The relay's side of the outbox. Rows are claimed with a lease instead of a
// transaction held open across the publish: the claim moves next_attempt_at
// forward, so a replica that dies mid-publish only delays its rows until the
// lease ends, and no connection stays busy while NATS is slow or away.

// ClaimOutbox leases up to limit due rows for lease and returns them oldest
// first. SKIP LOCKED lets several relays claim disjoint batches at once.
func (s *Store) ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]outbox.Row, error) {
	rows, err := s.pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM outbox
			WHERE sent_at IS NULL AND next_attempt_at <= now()
			ORDER BY next_attempt_at, created_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED
		)
		UPDATE outbox o SET next_attempt_at = now() + $2 * interval '1 millisecond'
		FROM due WHERE o.id = due.id
		RETURNING o.id::text, o.subject, o.payload, o.trace_headers, o.attempts, o.created_at`,
		limit, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (outbox.Row, error) {
		var row outbox.Row
		err := r.Scan(&row.ID, &row.Subject, &row.Payload, &row.Headers, &row.Attempts, &row.CreatedAt)
		return row, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	// RETURNING has no order; publish in the order the rows were written.
	slices.SortStableFunc(claimed, func(a, b outbox.Row) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return claimed, nil
}

// MarkOutboxSent records that JetStream acknowledged the rows.
func (s *Store) MarkOutboxSent(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx,
		`UPDATE outbox SET sent_at = now(), last_error = NULL WHERE id = ANY($1::text[]::uuid[]) AND sent_at IS NULL`,
		ids); err != nil {
		return fmt.Errorf("mark outbox sent: %w", err)
	}
	return nil
}

// FailOutbox records failed publishes: one more attempt, the error, and the
// time of the next attempt, in one statement for the whole batch.
func (s *Store) FailOutbox(ctx context.Context, failures []outbox.Failure) error {
	if len(failures) == 0 {
		return nil
	}
	ids := make([]string, len(failures))
	msgs := make([]string, len(failures))
	delays := make([]int64, len(failures))
	for i, f := range failures {
		ids[i], msgs[i], delays[i] = f.ID, f.Error, f.RetryIn.Milliseconds()
	}
	if _, err := s.pool.Exec(ctx, `
		UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.err,
			next_attempt_at = now() + f.delay_ms * interval '1 millisecond'
		FROM unnest($1::text[], $2::text[], $3::bigint[]) AS f(id, err, delay_ms)
		WHERE o.id = f.id::uuid AND o.sent_at IS NULL`,
		ids, msgs, delays); err != nil {
		return fmt.Errorf("fail outbox: %w", err)
	}
	return nil
}

// ReleaseOutbox ends the lease of rows that were claimed but not published
// (the relay is stopping), so that any relay can take them at once.
func (s *Store) ReleaseOutbox(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx,
		`UPDATE outbox SET next_attempt_at = now() WHERE id = ANY($1::text[]::uuid[]) AND sent_at IS NULL`,
		ids); err != nil {
		return fmt.Errorf("release outbox: %w", err)
	}
	return nil
}

// OutboxStats counts the rows not yet published and finds the oldest one's
// creation time (zero when none are pending).
func (s *Store) OutboxStats(ctx context.Context) (outbox.Stats, error) {
	var st outbox.Stats
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx,
		`SELECT count(*), min(created_at) FROM outbox WHERE sent_at IS NULL`).Scan(&st.Pending, &oldest); err != nil {
		return outbox.Stats{}, fmt.Errorf("outbox stats: %w", err)
	}
	if oldest != nil {
		st.Oldest = *oldest
	}
	return st, nil
}

// DeleteSentOutbox deletes up to limit rows sent before the cutoff and says
// how many it deleted. Small chunks keep each transaction short.
func (s *Store) DeleteSentOutbox(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM outbox WHERE id IN (
			SELECT id FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("delete sent outbox: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ListenOutbox holds a dedicated connection (outside the pool, so it never
// takes a slot from requests) listening on the channel the outbox trigger
// notifies at commit, and calls wake for each notification. It calls wake
// once right after LISTEN succeeds too, because notifications sent while the
// connection was down are lost. It returns when ctx ends (nil) or the
// connection fails (the error; the caller listens again).
func (s *Store) ListenOutbox(ctx context.Context, wake func()) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	// The tracer would add a span per LISTEN; waiting is not a query worth
	// tracing, and the connection lives for the process lifetime.
	cfg.Tracer = nil
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listen outbox: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN outbox"); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listen outbox: %w", err)
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("listen outbox: %w", err)
		}
		wake()
	}
}
