package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// NewPool returns a pool on a fresh database made from tpl; the pool is
// closed and the database dropped when the test ends.
func NewPool(t testing.TB, tpl Template) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), NewDatabase(t, tpl))
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	// Registered after NewDatabase's cleanup, so it runs first: the pool's
	// connections are gone before the database is dropped.
	t.Cleanup(pool.Close)
	return pool
}
