package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/testkit"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/pgtest"
	"github.com/kairos-platform/identity/services/auth-api/internal/outbox"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

// leased counts unsent rows that are claimed by someone (not due yet). With
// no failed publishes, any such row after a clean stop is a claim the
// stopped relay kept, which no other relay could take until its lease ran out.
func leased(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM outbox WHERE sent_at IS NULL AND next_attempt_at > now()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := pgtest.NewDatabase(t, pgtest.Template{Fingerprint: migrations.Fingerprint(), Migrate: migrations.UpURL})
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// stopDuringClaim lets a claim commit and then stops the relay before the
// claim returns, as SIGTERM does when it lands while the statement runs. A
// driver that sees its context end at that point reports an error although
// the server committed the claim; the store does the same here.
type stopDuringClaim struct {
	outbox.Store
	stop func()
}

func (s stopDuringClaim) ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]outbox.Row, error) {
	rows, err := s.Store.ClaimOutbox(ctx, limit, lease)
	s.stop()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return rows, err
}

func TestRelayStoppedDuringClaimLeavesNoLease(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := postgres.New(pool)
	js := natstest.Connect(t, natstest.New(t).URL())
	want := enqueue(t, context.Background(), store, 300)

	ctx, cancel := context.WithCancel(context.Background())
	if err := outbox.NewRelay(stopDuringClaim{Store: store, stop: cancel}, js, outbox.Options{}).Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if n := leased(t, pool); n != 0 {
		t.Fatalf("%d rows still leased after a clean stop", n)
	}
	st, err := store.OutboxStats(context.Background())
	if err != nil || st.Pending != 300 {
		t.Fatalf("pending = %d (%v), want all 300: nothing was published", st.Pending, err)
	}

	// So the next relay takes them at once, not after the lease.
	startRelay(t, store, js, outbox.Options{})
	checkOnce(t, natstest.StreamMsgs(t, js, events.StreamName, 300), want)
	waitAllSent(t, store)
}

func TestNoClaimedRowOutlivesACleanStop(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := postgres.New(pool)
	js := natstest.Connect(t, natstest.New(t).URL())
	const total = 3000
	want := enqueue(t, context.Background(), store, total)

	// Stop relays at whatever point they have reached, several times; each
	// must hand back every row it claimed and did not publish.
	for round := range 6 {
		st, err := store.OutboxStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 {
			break
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- outbox.NewRelay(store, js, outbox.Options{}).Run(ctx) }()
		testkit.Eventually(t, "some events published", func() bool {
			now, err := store.OutboxStats(context.Background())
			return err == nil && now.Pending < st.Pending
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("round %d: Run = %v, want nil", round, err)
		}
		if n := leased(t, pool); n != 0 {
			t.Fatalf("round %d: %d rows still leased after a clean stop", round, n)
		}
	}

	startRelay(t, store, js, outbox.Options{})
	checkOnce(t, natstest.StreamMsgs(t, js, events.StreamName, total), want)
	waitAllSent(t, store)
}
