package main

import (
	"context"
	"fmt"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/telemetry"
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
