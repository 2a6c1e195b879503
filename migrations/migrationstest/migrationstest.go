// Package migrationstest gives a test a fresh database at the current schema,
// cloned from a template that pgtest builds once per set of migrations.
package migrationstest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/pgtest"
)

// Template is the current schema: a new migration file changes its
// fingerprint, so tests never clone an outdated template.
func Template() pgtest.Template {
	return pgtest.Template{Fingerprint: migrations.Fingerprint(), Migrate: migrations.UpURL}
}

// NewDatabase returns the URL of a fresh migrated database, dropped when the
// test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return pgtest.NewDatabase(t, Template())
}

// NewPool returns a pool on a fresh migrated database.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.NewPool(t, Template())
}

// OutboxEvents returns the USERS events in the outbox table (session.*
// rows have their own payload type), oldest first, whether or not they were
// sent.
func OutboxEvents(t testing.TB, pool *pgxpool.Pool) []events.Event {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT payload FROM outbox WHERE subject LIKE 'user.%' ORDER BY created_at, id`)
	if err != nil {
		t.Fatalf("migrationstest: outbox: %v", err)
	}
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatalf("migrationstest: outbox row: %v", err)
		}
		ev, err := events.Decode(b)
		if err != nil {
			t.Fatalf("migrationstest: outbox payload: %v", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("migrationstest: outbox: %v", err)
	}
	return out
}
