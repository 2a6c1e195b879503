package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/telemetry"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

// openPostgres opens a pool traced by otelpgx (statements, never parameter
// values), exports its statistics, and refuses a schema that is behind.
func openPostgres(ctx context.Context, dbURL string, tp trace.TracerProvider, reg prometheus.Registerer) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %s: %v", redactURL(dbURL), err)
	}
	pcfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(tp))
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := telemetry.RegisterPgxPool(reg, pool); err != nil {
		pool.Close()
		return nil, err
	}
	if err := checkSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// checkSchema refuses to serve on a database whose schema is behind the
// binary's migrations.
func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	n, err := migrations.Pending(ctx, db)
	if err != nil {
		return fmt.Errorf("postgres: checking the schema: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("postgres: the schema is %d migration(s) behind this binary; run `auth-api migrate` first", n)
	}
	return nil
}

// pruneLoginThrottle is a worker that deletes login-throttle entries idle
// for a day, hourly, so that failed logins for guessed addresses do not
// pile up forever.
func pruneLoginThrottle(store *postgres.Store, ceiling int, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case now := <-t.C:
				if _, err := store.PruneLoginThrottle(ctx, now.Add(-24*time.Hour), ceiling); err != nil && ctx.Err() == nil {
					logger.Warn("pruning the login throttle failed", "error", err)
				}
				// Spent mail budgets too: their hour is over.
				if _, err := store.PruneMailBudget(ctx); err != nil && ctx.Err() == nil {
					logger.Warn("pruning the mail budget failed", "error", err)
				}
			}
		}
	}
}
