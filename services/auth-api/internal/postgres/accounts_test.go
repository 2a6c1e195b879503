package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	pool := migrationstest.NewPool(t)
	return postgres.New(pool), pool
}

func counts(t *testing.T, pool *pgxpool.Pool) [3]int {
	t.Helper()
	var c [3]int
	for i, table := range []string{"users", "verification_tokens", "outbox"} {
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&c[i]); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func account(email string) (auth.Account, auth.Token, events.Event) {
	a := auth.Account{UID: uuid.NewString(), Username: "ada", Email: email, PasswordHash: "$argon2id$…"}
	tok := auth.Token{Hash: []byte(uuid.NewString()), ExpiresAt: time.Now().Add(time.Hour)}
	ev := events.Event{ID: uuid.NewString(), Type: events.UserCreated, Version: events.Version, OccurredAt: time.Now(),
		User: events.User{UID: a.UID, Username: a.Username, Email: a.Email}, VerifyURL: "http://x/api/verify/t/", VerifyExpiresAt: &tok.ExpiresAt}
	return a, tok, ev
}

// User, token and outbox row are written together or not at all.
func TestCreateAccountIsOneTransaction(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()

	a, tok, ev := account("ada@example.com")
	ev.Version = 0 // the outbox insert fails: nothing of the signup may remain
	if err := s.CreateAccount(ctx, a, tok, ev); err == nil {
		t.Fatal("CreateAccount with an unencodable event succeeded")
	}
	if c := counts(t, pool); c != [3]int{} {
		t.Fatalf("after a failed signup: users, tokens, outbox = %v, want none", c)
	}

	a, tok, ev = account("ada@example.com")
	if err := s.CreateAccount(ctx, a, tok, ev); err != nil {
		t.Fatal(err)
	}
	b, tok2, ev2 := account("ADA@example.COM")
	if err := s.CreateAccount(ctx, b, tok2, ev2); !errors.Is(err, auth.ErrDuplicateEmail) {
		t.Fatalf("second account for the address in other letter case: %v, want ErrDuplicateEmail", err)
	}
	if c := counts(t, pool); c != [3]int{1, 1, 1} {
		t.Fatalf("after a duplicate: %v, want one of each", c)
	}
}

func TestReissueIsOneTransaction(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	a, tok, ev := account("ada@example.com")
	if err := s.CreateAccount(ctx, a, tok, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.Reissue(ctx, "nobody@example.com", func(auth.Account) auth.Reissue { return auth.Reissue{} }); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Reissue for an unknown address: %v, want ErrNotFound", err)
	}
	// The event reuses an existing id, so its insert fails: the new token
	// must not exist and the old one must not be revoked.
	newTok := auth.Token{Hash: []byte("new"), ExpiresAt: time.Now().Add(time.Hour)}
	err := s.Reissue(ctx, "Ada@Example.com", func(got auth.Account) auth.Reissue {
		if got.UID != a.UID || got.Email != "ada@example.com" || got.Verified {
			t.Errorf("decide got %+v", got)
		}
		return auth.Reissue{Token: &newTok, Event: &ev}
	})
	if err == nil {
		t.Fatal("Reissue with a failing outbox insert succeeded")
	}
	var revoked int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM verification_tokens WHERE revoked_at IS NOT NULL`).Scan(&revoked); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, pool); c != [3]int{1, 1, 1} || revoked != 0 {
		t.Fatalf("after a failed reissue: %v, %d revoked; want the state before it", c, revoked)
	}
}
