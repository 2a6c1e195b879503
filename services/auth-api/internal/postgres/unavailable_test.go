package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

// Errors that mean the database cannot be reached become auth.ErrUnavailable
// (answered 503, retried), whether the server refuses connections or drops
// one under a query; an ordinary answer is not.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := migrationstest.NewDatabase(t)

	refused, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/kairos?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	if _, err := postgres.New(refused).LoginThrottle(ctx, "a@example.com", "net:192.0.2.1/32"); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("connection refused: %v, want ErrUnavailable", err)
	}

	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := postgres.New(pool)
	if _, err := store.AccountByEmail(ctx, "nobody@example.com"); !errors.Is(err, auth.ErrNotFound) || errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("healthy database: %v, want ErrNotFound only", err)
	}

	// Terminate the pool's connection from another session, as a server
	// restart would; the next query on it fails.
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the termination reach the socket
	_, _, err = store.RecordLoginFailure(ctx, auth.LoginFailure{Email: "a@example.com", Source: "net:192.0.2.1/32", Now: time.Now()})
	if err == nil {
		// pgx may notice the dead connection before using it and dial a
		// new one; then the query simply succeeds, which is fine too.
		return
	}
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("connection terminated under the query: %v, want ErrUnavailable", err)
	}
}
