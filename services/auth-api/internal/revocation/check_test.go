package revocation_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// fakeSessions is PostgreSQL as the stale check sees it.
type fakeSessions struct {
	live  map[string]bool
	err   error
	calls int
}

func (f *fakeSessions) SessionLive(_ context.Context, _, sid string) (bool, error) {
	f.calls++
	return f.live[sid], f.err
}

func checker(t testing.TB) (*revocation.Checker, *fakeSessions, *tokens.Authority, *time.Time) {
	t.Helper()
	pemKey, err := tokens.Generate("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := tokens.ParseKeys(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	clock := func() time.Time { return now }
	a := tokens.NewAuthority(ks, tokens.Config{Issuer: "https://id", Audience: "kairos", TTL: 10 * time.Minute}, clock)
	db := &fakeSessions{live: map[string]bool{}}
	return &revocation.Checker{Tokens: a, List: revocation.New(hold), DB: db, MaxLag: 3 * time.Second, Now: clock}, db, a, &now
}

func TestCheck(t *testing.T) {
	c, db, a, now := checker(t)
	sid := sidAt(t, t0.Add(-time.Minute))
	tok, _, err := a.Issue("u", sid, true)
	if err != nil {
		t.Fatal(err)
	}

	// Before the feed was ever current, PostgreSQL decides.
	db.live[sid] = true
	if cl, stale, err := c.Check(context.Background(), "Bearer "+tok); err != nil || !stale || cl.UID != "u" {
		t.Fatalf("stale, live in the database: %+v %v %v", cl, stale, err)
	}
	db.err = errors.New("connection refused")
	if _, _, err := c.Check(context.Background(), "Bearer "+tok); !errors.Is(err, revocation.ErrUnverifiable) {
		t.Fatalf("stale, database down: %v, want ErrUnverifiable", err)
	}
	db.err = nil

	c.List.Heard(*now)
	db.calls = 0
	for _, h := range []string{"Bearer " + tok, "bearer " + tok, "BEARER  " + tok} {
		if _, stale, err := c.Check(context.Background(), h); err != nil || stale {
			t.Fatalf("%.10q: %v, stale %v", h, err, stale)
		}
	}
	if db.calls != 0 {
		t.Fatalf("a current feed asked the database %d times", db.calls)
	}

	for name, h := range map[string]string{
		"empty":     "",
		"no scheme": tok,
		"basic":     "Basic " + tok,
		"no token":  "Bearer ",
		"garbage":   "Bearer x.y.z",
		"oversized": "Bearer " + strings.Repeat("a", tokens.MaxTokenBytes+1),
	} {
		if _, _, err := c.Check(context.Background(), h); !errors.Is(err, tokens.ErrInvalid) {
			t.Fatalf("%s: %v, want ErrInvalid", name, err)
		}
	}

	c.List.Apply(rev("u", *now, sid), *now)
	if _, _, err := c.Check(context.Background(), "Bearer "+tok); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("revoked session: %v, want ErrRevoked", err)
	}

	// Stale again: a session revoked in the database but not yet on the list.
	other := sidAt(t, t0.Add(-time.Minute))
	tok2, _, _ := a.Issue("u", other, true)
	*now = now.Add(10 * time.Second)
	if _, stale, err := c.Check(context.Background(), "Bearer "+tok2); !errors.Is(err, revocation.ErrRevoked) || !stale {
		t.Fatalf("stale, revoked in the database: %v, stale %v", err, stale)
	}
}
