package session_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/pgtest"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// applied records what the service hands the local deny-list.
type applied struct {
	mu   sync.Mutex
	revs []events.Revocation
}

func (a *applied) add(r events.Revocation) { a.mu.Lock(); a.revs = append(a.revs, r); a.mu.Unlock() }

func (a *applied) last() events.Revocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.revs) == 0 {
		return events.Revocation{}
	}
	return a.revs[len(a.revs)-1]
}

func service(t *testing.T) (*session.Service, *applied, *tokens.Authority, string) {
	t.Helper()
	url := pgtest.NewDatabase(t, pgtest.Template{Fingerprint: migrations.Fingerprint(), Migrate: migrations.UpURL})
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	uid := uuid.NewString()
	if _, err := pool.Exec(context.Background(),
		`INSERT INTO users (uid, username, email, password_hash, verified_at) VALUES ($1, 'ada', 'ada@example.com', 'x', now())`, uid); err != nil {
		t.Fatal(err)
	}
	key, err := tokens.Generate("es256")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := tokens.ParseKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	auth := tokens.NewAuthority(ks, tokens.Config{Issuer: "https://id", Audience: "kairos", TTL: 10 * time.Minute}, time.Now)
	got := &applied{}
	return &session.Service{
		Store:   postgres.New(pool),
		Issuer:  auth,
		Config:  session.Config{RefreshTTL: 720 * time.Hour, MaxAge: 2160 * time.Hour, ReuseGrace: time.Hour, AccessTTL: 10 * time.Minute},
		Applied: got.add,
	}, got, auth, uid
}

func TestLoginRefreshGraceAndReuse(t *testing.T) {
	t.Parallel()
	s, got, auth, uid := service(t)
	ctx := context.Background()

	first, err := s.Start(ctx, uid, true, "curl/8", netip.MustParseAddr("2001:db8::1"))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := auth.Verify(first.AccessToken)
	if err != nil || claims.UID != uid || !claims.EmailVerified || first.ExpiresIn != 600 || first.RefreshToken == "" {
		t.Fatalf("login tokens %+v, claims %+v, %v", first, claims, err)
	}

	second, outcome, err := s.Refresh(ctx, first.RefreshToken)
	if err != nil || outcome != session.OutcomeRotated || second.RefreshToken == first.RefreshToken ||
		second.Claims.SessionID != claims.SessionID || !second.Claims.EmailVerified {
		t.Fatalf("refresh: %s %v %+v", outcome, err, second.Claims)
	}
	retry, outcome, err := s.Refresh(ctx, first.RefreshToken)
	if err != nil || outcome != session.OutcomeGraceRetry || retry.RefreshToken != second.RefreshToken {
		t.Fatalf("retry within grace: %s %v; same successor %v", outcome, err, retry.RefreshToken == second.RefreshToken)
	}
	third, outcome, err := s.Refresh(ctx, second.RefreshToken)
	if err != nil || outcome != session.OutcomeRotated {
		t.Fatalf("refreshing the successor: %s %v", outcome, err)
	}
	if _, outcome, err := s.Refresh(ctx, first.RefreshToken); !errors.Is(err, session.ErrRefreshReused) || outcome != session.OutcomeReuseRevoked {
		t.Fatalf("first token once its successor was used: %s %v", outcome, err)
	}
	if rev := got.last(); !slices.Equal(rev.SessionIDs, []string{claims.SessionID}) {
		t.Fatalf("local deny-list was handed %+v", rev)
	}
	if _, outcome, err := s.Refresh(ctx, third.RefreshToken); !errors.Is(err, session.ErrRefreshInvalid) || outcome != session.OutcomeInvalid {
		t.Fatalf("live token of the revoked session: %s %v", outcome, err)
	}
	for _, bad := range []string{"", "nope", string(make([]byte, 300))} {
		if _, outcome, err := s.Refresh(ctx, bad); !errors.Is(err, session.ErrRefreshInvalid) || outcome != session.OutcomeInvalid {
			t.Fatalf("refresh %.10q: %s %v", bad, outcome, err)
		}
	}
}

func TestLogoutScopesAndDelete(t *testing.T) {
	t.Parallel()
	s, got, _, uid := service(t)
	ctx := context.Background()
	var sids []string
	for range 4 {
		tk, err := s.Start(ctx, uid, true, "ua", netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, tk.Claims.SessionID)
	}

	if err := s.Logout(ctx, uid, sids[0], session.ScopeSession); err != nil {
		t.Fatal(err)
	}
	if rev := got.last(); !slices.Equal(rev.SessionIDs, sids[:1]) {
		t.Fatalf("logout applied %+v", rev)
	}
	n := len(got.revs)
	if err := s.Logout(ctx, uid, sids[0], session.ScopeSession); err != nil || len(got.revs) != n {
		t.Fatalf("second logout: %v, applied %d more", err, len(got.revs)-n)
	}
	if err := s.Delete(ctx, uid, sids[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, uid, sids[1]); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if err := s.Logout(ctx, uid, sids[2], session.ScopeOthers); err != nil {
		t.Fatal(err)
	}
	if rev := got.last(); !slices.Equal(rev.SessionIDs, sids[3:]) {
		t.Fatalf("logout others applied %+v", rev)
	}
	if err := s.Logout(ctx, uid, sids[2], session.ScopeAll); err != nil {
		t.Fatal(err)
	}
	if rev := got.last(); !slices.Equal(rev.SessionIDs, sids[2:3]) || rev.Before == nil {
		t.Fatalf("logout all applied %+v", rev)
	}
	if err := s.Logout(ctx, uid, sids[2], "everything"); !errors.Is(err, session.ErrUnknownScope) {
		t.Fatalf("unknown scope: %v", err)
	}
}
