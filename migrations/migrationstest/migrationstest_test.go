package migrationstest_test

import (
	"testing"

	"github.com/kairos-platform/identity/migrations/migrationstest"
)

func TestNewPoolIsMigratedAndTheOutboxStartsEmpty(t *testing.T) {
	t.Parallel()
	// OutboxEvents fails the test if the outbox table is missing.
	if evs := migrationstest.OutboxEvents(t, migrationstest.NewPool(t)); len(evs) != 0 {
		t.Fatalf("fresh database holds %d outbox events", len(evs))
	}
}
