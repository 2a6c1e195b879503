package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// Pruning forgets idle state, but neither a lock still running nor an
// account at its ceiling: those end only by time, a reset or a known device.
func TestPruneLoginThrottleKeepsLocksAndCeilings(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	old := now.Add(-48 * time.Hour)
	fail := func(email, source string, at time.Time, times int) {
		t.Helper()
		for range times {
			if _, _, err := store.RecordLoginFailure(ctx, auth.LoginFailure{Email: email, Source: source, Untrusted: true, Now: at, Ceiling: 3}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fail("idle@example.com", "net:192.0.2.1/32", old, 1)    // pruned: both rows
	fail("ceiling@example.com", "net:192.0.2.2/32", old, 3) // source pruned, ceiling kept
	fail("locked@example.com", "net:192.0.2.3/32", old, 1)
	if err := store.LockLoginSource(ctx, "locked@example.com", "net:192.0.2.3/32", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	fail("fresh@example.com", "net:192.0.2.4/32", now, 1) // kept: recent

	if _, err := store.PruneLoginThrottle(ctx, now.Add(-24*time.Hour), 3); err != nil {
		t.Fatal(err)
	}
	rows := func(sql string) map[string]bool {
		got := map[string]bool{}
		r, err := pool.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var e string
			if err := r.Scan(&e); err != nil {
				t.Fatal(err)
			}
			got[e] = true
		}
		return got
	}
	sources := rows(`SELECT email FROM login_sources`)
	accounts := rows(`SELECT email FROM login_throttle`)
	if len(sources) != 2 || !sources["locked@example.com"] || !sources["fresh@example.com"] {
		t.Errorf("source rows after pruning: %v, want locked@ and fresh@", sources)
	}
	// locked@'s account row is idle and below the ceiling: its source lock is what stays.
	if len(accounts) != 2 || !accounts["ceiling@example.com"] || !accounts["fresh@example.com"] {
		t.Errorf("account rows after pruning: %v, want ceiling@ and fresh@", accounts)
	}
}
