package outbox_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

// writeEvent puts ev in the outbox the only way the service does: in the
// transaction of a domain write, here a new account for ev's user with a
// throwaway token, so the relay sees what a signup leaves behind.
func writeEvent(ctx context.Context, s *postgres.Store, ev events.Event) error {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	hash := sha256.Sum256(secret)
	acct := auth.Account{UID: ev.User.UID, Username: ev.User.Username, Email: ev.User.UID + "@example.com", PasswordHash: "unused"}
	return s.CreateAccount(ctx, acct, auth.Token{Hash: hash[:], ExpiresAt: time.Now().Add(time.Hour)}, ev)
}
