package postgres

// An internal test: it needs inTx and insertOutbox to write outbox rows in a
// transaction that rolls back, and raw access to the table to check what the
// relay's statements did.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/internal/outbox"
)

func outboxTestStore(t *testing.T) *Store { return New(migrationstest.NewPool(t)) }

func outboxTestEvent() events.Event {
	exp := time.Now().Add(time.Hour)
	return events.Event{
		ID: uuid.NewString(), Type: events.UserCreated, Version: events.Version, OccurredAt: time.Now(),
		User:      events.User{UID: uuid.NewString(), Username: "ada", Email: "ada@example.com"},
		VerifyURL: "http://localhost:8080/api/verify/t/", VerifyExpiresAt: &exp,
	}
}

func outboxTestCount(t *testing.T, s *Store, where string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM outbox WHERE "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func outboxTestRun(t *testing.T, s *Store, js jetstream.JetStream, opts outbox.Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- outbox.NewRelay(s, js, opts).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
}

func TestOutboxRolledBackPublishesNothing(t *testing.T) {
	t.Parallel()
	s := outboxTestStore(t)
	js := natstest.Connect(t, natstest.New(t).URL())
	outboxTestRun(t, s, js, outbox.Options{})
	ctx := context.Background()

	errAbort := errors.New("abort")
	rolledBack := outboxTestEvent()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := insertOutbox(ctx, tx, rolledBack); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("inTx = %v", err)
	}
	// A committed event after it: once that one is on the stream, the relay
	// has had every chance to publish the rolled-back one too.
	committed := outboxTestEvent()
	if err := s.inTx(ctx, func(tx pgx.Tx) error { return insertOutbox(ctx, tx, committed) }); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the committed event sent", func() bool {
		return outboxTestCount(t, s, "sent_at IS NOT NULL") == 1
	})
	stream, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || m.Header.Get(jetstream.MsgIDHeader) != committed.ID {
		t.Fatalf("stream holds %d messages, first %q; want only %s", info.State.Msgs, m.Header.Get(jetstream.MsgIDHeader), committed.ID)
	}
	if n := outboxTestCount(t, s, "true"); n != 1 {
		t.Fatalf("outbox holds %d rows, want 1", n)
	}
}

func TestOutboxClaimLeasesAndSkipsLocked(t *testing.T) {
	t.Parallel()
	s := outboxTestStore(t)
	ctx := context.Background()
	for range 5 {
		if err := insertOutbox(ctx, s.pool, outboxTestEvent()); err != nil {
			t.Fatal(err)
		}
	}

	// Two relays claim at once: disjoint batches.
	a, err := s.ClaimOutbox(ctx, 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.ClaimOutbox(ctx, 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 3 || len(b) != 2 {
		t.Fatalf("claimed %d and %d rows, want 3 and 2", len(a), len(b))
	}
	seen := map[string]bool{}
	for _, r := range append(a, b...) {
		if seen[r.ID] {
			t.Fatalf("row %s claimed twice", r.ID)
		}
		seen[r.ID] = true
		if _, err := events.Decode(r.Payload); err != nil || r.Subject != events.UserCreated {
			t.Fatalf("claimed row %s: subject %s, decode %v", r.ID, r.Subject, err)
		}
	}
	// Leased rows are not due again.
	if c, err := s.ClaimOutbox(ctx, 10, time.Minute); err != nil || len(c) != 0 {
		t.Fatalf("claim while leased = %d rows, %v", len(c), err)
	}

	// Sent rows stay sent; failed rows count an attempt and wait; released
	// rows are due at once.
	if err := s.MarkOutboxSent(ctx, []string{a[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.FailOutbox(ctx, []outbox.Failure{{ID: a[1].ID, Error: "nats: timeout", RetryIn: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseOutbox(ctx, []string{a[2].ID, a[0].ID}); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimOutbox(ctx, 10, time.Minute)
	if err != nil || len(c) != 1 || c[0].ID != a[2].ID || c[0].Attempts != 0 {
		t.Fatalf("claim after release = %+v, %v; want only %s", c, err, a[2].ID)
	}
	var attempts int
	var lastErr string
	var wait time.Duration
	if err := s.pool.QueryRow(ctx,
		`SELECT attempts, last_error, extract(epoch FROM next_attempt_at - now())::float8 * interval '1 second' FROM outbox WHERE id = $1`,
		a[1].ID).Scan(&attempts, &lastErr, &wait); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || lastErr != "nats: timeout" || wait < 50*time.Minute {
		t.Fatalf("failed row: attempts %d, last_error %q, due in %s", attempts, lastErr, wait)
	}

	st, err := s.OutboxStats(ctx)
	if err != nil || st.Pending != 4 || st.Oldest.IsZero() {
		t.Fatalf("stats = %+v, %v; want 4 pending", st, err)
	}
}

func TestOutboxRetentionDeletesOldSentRows(t *testing.T) {
	t.Parallel()
	s := outboxTestStore(t)
	ctx := context.Background()
	ids := make([]string, 4)
	for i := range ids {
		ev := outboxTestEvent()
		ids[i] = ev.ID
		if err := insertOutbox(ctx, s.pool, ev); err != nil {
			t.Fatal(err)
		}
	}
	// Two sent long ago, one sent just now, one never sent.
	if err := s.MarkOutboxSent(ctx, ids[:3]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE outbox SET sent_at = now() - interval '8 days' WHERE id = ANY($1::text[]::uuid[])`, ids[:2]); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteSentOutbox(ctx, time.Now().Add(-outbox.DefaultRetention), 1)
	if err != nil || n != 1 {
		t.Fatalf("delete chunk of 1 = %d, %v", n, err)
	}
	if n, err = s.DeleteSentOutbox(ctx, time.Now().Add(-outbox.DefaultRetention), 100); err != nil || n != 1 {
		t.Fatalf("delete rest = %d, %v", n, err)
	}
	if got := outboxTestCount(t, s, "true"); got != 2 {
		t.Fatalf("%d rows left, want the recent sent one and the pending one", got)
	}

	// The relay sweeps on its own: with a short retention, the recent sent
	// row and the pending one (once the relay has sent it) are deleted.
	js := natstest.Connect(t, natstest.New(t).URL())
	outboxTestRun(t, s, js, outbox.Options{Retention: 100 * time.Millisecond})
	testkit.Eventually(t, "the relay's retention sweep", func() bool {
		return outboxTestCount(t, s, "true") == 0
	})
}

func TestOutboxRelayListensAgainAfterConnectionLoss(t *testing.T) {
	t.Parallel()
	s := outboxTestStore(t)
	js := natstest.Connect(t, natstest.New(t).URL())
	outboxTestRun(t, s, js, outbox.Options{})
	ctx := context.Background()

	listeners := func() []int {
		rows, err := s.pool.Query(ctx, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN outbox'`)
		if err != nil {
			t.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			t.Fatal(err)
		}
		return pids
	}
	var first []int
	testkit.Eventually(t, "the relay's LISTEN connection", func() bool { first = listeners(); return len(first) == 1 })
	if _, err := s.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, first[0]); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "a new LISTEN connection", func() bool {
		pids := listeners()
		return len(pids) == 1 && pids[0] != first[0]
	})
	if err := insertOutbox(ctx, s.pool, outboxTestEvent()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the event sent", func() bool { return outboxTestCount(t, s, "sent_at IS NOT NULL") == 1 })
}
