package postgres_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
)

const (
	refreshTTL = 720 * time.Hour
	maxAge     = 2160 * time.Hour
)

// user creates an account and returns its uid.
func user(t *testing.T, s *postgres.Store, email string) string {
	t.Helper()
	a, tok, ev := account(email)
	if err := s.CreateAccount(context.Background(), a, tok, ev); err != nil {
		t.Fatal(err)
	}
	return a.UID
}

// login starts a session for uid and returns it with its refresh token.
func login(t *testing.T, s *postgres.Store, uid string, ttl time.Duration) (session.Session, string) {
	t.Helper()
	id, err := session.NewID()
	if err != nil {
		t.Fatal(err)
	}
	tok, hash, err := session.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := s.CreateSession(context.Background(), session.New{
		ID: id, UID: uid, UserAgent: "curl/8", ClientIP: netip.MustParseAddr("192.0.2.7"),
		RefreshHash: hash, RefreshTTL: ttl, MaxAge: maxAge,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ss, tok
}

// proposal is what a replica prepares before presenting prev.
func proposal(t *testing.T, prev string) (string, session.Next) {
	t.Helper()
	next, hash, err := session.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := session.Seal(prev, next)
	if err != nil {
		t.Fatal(err)
	}
	return next, session.Next{Hash: hash, Sealed: sealed}
}

func outboxRevocations(t *testing.T, pool *pgxpool.Pool) []events.Revocation {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT payload FROM outbox WHERE subject = $1 ORDER BY created_at`, events.SessionRevoked)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []events.Revocation
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		r, err := events.DecodeRevocation(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestCreateListTouchSession(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	uid := user(t, s, "ada@example.com")
	a, _ := login(t, s, uid, refreshTTL)
	b, _ := login(t, s, uid, refreshTTL)
	if a.UID != uid || a.UserAgent != "curl/8" || a.ClientIP.String() != "192.0.2.7" ||
		!a.AbsoluteExpiresAt.After(a.ExpiresAt) || a.ExpiresAt.Sub(a.CreatedAt) != refreshTTL {
		t.Fatalf("created %+v", a)
	}
	if err := s.TouchSession(ctx, a.ID, 0); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListSessions(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("listed %+v, want a (just used) then b", list)
	}
	if other, _ := s.ListSessions(ctx, user(t, s, "bob@example.com")); len(other) != 0 {
		t.Fatalf("another user sees %d sessions", len(other))
	}
	for _, tc := range []struct {
		uid, sid string
		want     bool
	}{{uid, a.ID, true}, {uid, "nope", false}, {"nope", a.ID, false}} {
		if live, err := s.SessionLive(ctx, tc.uid, tc.sid); err != nil || live != tc.want {
			t.Fatalf("SessionLive(%s, %s) = %v, %v; want %v", tc.uid, tc.sid, live, err, tc.want)
		}
	}
}

// The RFC 9700 §4.14.2 sequence: rotate, retry within grace (same
// successor), use the successor, then the first token again (reuse: the
// whole session goes).
func TestRotateGraceRetryAndReuse(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	uid := user(t, s, "ada@example.com")
	ss, t0 := login(t, s, uid, refreshTTL)
	grace := session.Policy{TTL: refreshTTL, Grace: time.Hour}

	t1, next := proposal(t, t0)
	rot, _, err := s.RotateRefresh(ctx, session.HashRefresh(t0), next, grace)
	if err != nil || rot.Outcome != session.Rotated || rot.Session.ID != ss.ID || rot.EmailVerified {
		t.Fatalf("first rotation: %+v, %v", rot, err)
	}

	_, retryNext := proposal(t, t0)
	rot, _, err = s.RotateRefresh(ctx, session.HashRefresh(t0), retryNext, grace)
	if err != nil || rot.Outcome != session.GraceRetry {
		t.Fatalf("retry within grace: %+v, %v", rot, err)
	}
	if got, err := session.Open(t0, rot.Sealed); err != nil || got != t1 {
		t.Fatalf("retry's successor %q, %v; want the first successor", got, err)
	}

	t2, next := proposal(t, t1)
	if rot, _, err = s.RotateRefresh(ctx, session.HashRefresh(t1), next, grace); err != nil || rot.Outcome != session.Rotated {
		t.Fatalf("rotating the successor: %+v, %v", rot, err)
	}

	_, again := proposal(t, t0)
	_, rev, err := s.RotateRefresh(ctx, session.HashRefresh(t0), again, grace)
	if !errors.Is(err, session.ErrRefreshReused) {
		t.Fatalf("t0 after its successor was used: %v, want ErrRefreshReused", err)
	}
	if rev.UID != uid || !slices.Equal(rev.SessionIDs, []string{ss.ID}) || rev.Reason != session.ReasonRefreshReuse {
		t.Fatalf("revocation %+v", rev)
	}
	if got := outboxRevocations(t, pool); len(got) != 1 || got[0].ID != rev.ID {
		t.Fatalf("outbox holds %+v, want the one revocation", got)
	}
	_, n := proposal(t, t2)
	if _, _, err := s.RotateRefresh(ctx, session.HashRefresh(t2), n, grace); !errors.Is(err, session.ErrRefreshInvalid) {
		t.Fatalf("the live token of a revoked session: %v, want ErrRefreshInvalid", err)
	}
	if live, _ := s.SessionLive(ctx, uid, ss.ID); live {
		t.Fatal("session still live after reuse")
	}
}

func TestRotateRefuses(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	uid := user(t, s, "ada@example.com")

	_, next := proposal(t, "x")
	if _, _, err := s.RotateRefresh(ctx, session.HashRefresh("unknown"), next, session.Policy{TTL: refreshTTL}); !errors.Is(err, session.ErrRefreshInvalid) {
		t.Fatalf("unknown token: %v", err)
	}

	_, short := login(t, s, uid, time.Microsecond) // expired by the next statement
	_, next = proposal(t, short)
	if _, _, err := s.RotateRefresh(ctx, session.HashRefresh(short), next, session.Policy{TTL: refreshTTL}); !errors.Is(err, session.ErrRefreshExpired) {
		t.Fatalf("expired token: %v", err)
	}

	// Without a grace window, a second presentation is reuse at once.
	ss, t0 := login(t, s, uid, refreshTTL)
	_, next = proposal(t, t0)
	if _, _, err := s.RotateRefresh(ctx, session.HashRefresh(t0), next, session.Policy{TTL: refreshTTL}); err != nil {
		t.Fatal(err)
	}
	_, next = proposal(t, t0)
	_, rev, err := s.RotateRefresh(ctx, session.HashRefresh(t0), next, session.Policy{TTL: refreshTTL})
	if !errors.Is(err, session.ErrRefreshReused) || !slices.Equal(rev.SessionIDs, []string{ss.ID}) {
		t.Fatalf("second presentation without grace: %v, %+v", err, rev)
	}
}

// Many replicas presenting one token at once: one successor, and every
// other caller is handed that same successor.
func TestConcurrentRotationYieldsOneSuccessor(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	uid := user(t, s, "ada@example.com")
	_, t0 := login(t, s, uid, refreshTTL)

	const callers = 8
	got := make([]string, callers)
	outcomes := make([]session.Outcome, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		next, prop := proposal(t, t0)
		wg.Go(func() {
			rot, _, err := s.RotateRefresh(ctx, session.HashRefresh(t0), prop, session.Policy{TTL: refreshTTL, Grace: time.Hour})
			outcomes[i], errs[i] = rot.Outcome, err
			switch rot.Outcome {
			case session.Rotated:
				got[i] = next
			case session.GraceRetry:
				got[i], errs[i] = session.Open(t0, rot.Sealed)
			}
		})
	}
	wg.Wait()
	rotated := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if outcomes[i] == session.Rotated {
			rotated++
		}
		if got[i] != got[0] {
			t.Fatalf("callers were handed different successors: %q and %q", got[0], got[i])
		}
	}
	var tokens int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&tokens); err != nil {
		t.Fatal(err)
	}
	if rotated != 1 || tokens != 2 {
		t.Fatalf("%d rotations and %d refresh tokens, want 1 and 2", rotated, tokens)
	}
}

func TestRevokeOneOthersAll(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	uid := user(t, s, "ada@example.com")
	bob := user(t, s, "bob@example.com")
	a, _ := login(t, s, uid, refreshTTL)
	b, _ := login(t, s, uid, refreshTTL)
	c, _ := login(t, s, uid, refreshTTL)
	bobs, _ := login(t, s, bob, refreshTTL)

	if _, err := s.RevokeSession(ctx, uid, bobs.ID, session.ReasonDeleted); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("revoking somebody else's session: %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeSession(ctx, uid, "not-a-uuid", session.ReasonDeleted); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("revoking a malformed id: %v, want ErrNotFound", err)
	}
	one, err := s.RevokeSession(ctx, uid, a.ID, session.ReasonLogout)
	if err != nil || !slices.Equal(one.SessionIDs, []string{a.ID}) || one.Before != nil || one.UID != uid {
		t.Fatalf("revoke one: %+v, %v", one, err)
	}
	if _, err := s.RevokeSession(ctx, uid, a.ID, session.ReasonLogout); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("revoking twice: %v, want ErrNotFound", err)
	}

	others, err := s.RevokeOtherSessions(ctx, uid, b.ID, session.ReasonLogoutOthers)
	if err != nil || !slices.Equal(others.SessionIDs, []string{c.ID}) {
		t.Fatalf("revoke others: %+v, %v", others, err)
	}
	none, err := s.RevokeOtherSessions(ctx, uid, b.ID, session.ReasonLogoutOthers)
	if err != nil || len(none.SessionIDs) != 0 || none.ID != "" {
		t.Fatalf("revoke others with none left: %+v, %v", none, err)
	}

	all, err := s.RevokeAllSessions(ctx, uid, session.ReasonLogoutAll)
	if err != nil || !slices.Equal(all.SessionIDs, []string{b.ID}) || all.Before == nil {
		t.Fatalf("revoke all: %+v, %v", all, err)
	}
	if started, _ := session.StartedAt(b.ID); started.After(*all.Before) {
		t.Fatalf("cut-off %v precedes the revoked session's start %v", all.Before, started)
	}
	if list, _ := s.ListSessions(ctx, uid); len(list) != 0 {
		t.Fatalf("%d sessions live after revoke all", len(list))
	}
	if live, _ := s.SessionLive(ctx, bob, bobs.ID); !live {
		t.Fatal("bob's session was revoked with ada's")
	}

	written := outboxRevocations(t, pool)
	var ids []string
	for _, r := range written {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{one.ID, others.ID, all.ID}) {
		t.Fatalf("outbox revocations %v, want one per revoking call", ids)
	}
}

func TestDeleteEndedSessions(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	uid := user(t, s, "ada@example.com")
	gone, _ := login(t, s, uid, refreshTTL)
	kept, _ := login(t, s, uid, refreshTTL)
	if _, err := s.RevokeSession(ctx, uid, gone.ID, session.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteEndedSessions(ctx, 0)
	if err != nil || n != 1 {
		t.Fatalf("deleted %d, %v; want the revoked session", n, err)
	}
	if live, _ := s.SessionLive(ctx, uid, kept.ID); !live {
		t.Fatal("a live session was deleted")
	}
}

// Refreshes racing a logout-everywhere neither deadlock nor survive it: each
// refresh either committed before the revocation (and its session is listed
// in it) or sees a revoked session.
func TestRotationRacingRevokeAll(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	uid := user(t, s, "ada@example.com")
	const n = 6
	toks := make([]string, n)
	for i := range n {
		_, toks[i] = login(t, s, uid, refreshTTL)
	}
	errs := make([]error, n+1)
	var rev events.Revocation
	var wg sync.WaitGroup
	for i := range n {
		_, next := proposal(t, toks[i])
		wg.Go(func() {
			_, _, errs[i] = s.RotateRefresh(ctx, session.HashRefresh(toks[i]), next, session.Policy{TTL: refreshTTL, Grace: time.Hour})
		})
	}
	wg.Go(func() { rev, errs[n] = s.RevokeAllSessions(ctx, uid, session.ReasonLogoutAll) })
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, session.ErrRefreshInvalid) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if len(rev.SessionIDs) != n {
		t.Fatalf("revoke all named %d sessions, want %d", len(rev.SessionIDs), n)
	}
	if list, _ := s.ListSessions(ctx, uid); len(list) != 0 {
		t.Fatalf("%d sessions survived", len(list))
	}
}
