package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// ConsumeToken pipelines its transaction (BEGIN with the first statement,
// COMMIT with the last): every outcome must still commit what it did and
// hand its connection back outside any transaction.
func TestConsumeTokenOutcomes(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	a, tok, ev := account("ada@example.com")
	if err := s.CreateAccount(ctx, a, tok, ev); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// Each case runs more often than the pool has connections: one left in
	// a transaction would block the pool or show as idle in transaction.
	calls := int(pool.Config().MaxConns) + 1
	tests := []struct {
		name  string
		hash  []byte
		calls int
		want  auth.TokenState
	}{
		{"unused token", tok.Hash, 1, auth.TokenState{Found: true, Consumed: true}},
		{"same token again", tok.Hash, calls, auth.TokenState{Found: true, Used: true, ExpiresAt: tok.ExpiresAt}},
		{"unknown token", []byte("no such token"), calls, auth.TokenState{}},
	}
	for _, tt := range tests {
		for range tt.calls {
			got, err := s.ConsumeToken(ctx, tt.hash, now)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if !got.ExpiresAt.Equal(tt.want.ExpiresAt.Truncate(time.Microsecond)) || got.Found != tt.want.Found ||
				got.Consumed != tt.want.Consumed || got.Used != tt.want.Used || got.Revoked != tt.want.Revoked {
				t.Fatalf("%s: state %+v, want %+v", tt.name, got, tt.want)
			}
		}
		var inTx int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&inTx); err != nil {
			t.Fatal(err)
		}
		if inTx != 0 {
			t.Fatalf("%s: %d connections idle in a transaction", tt.name, inTx)
		}
	}
	var verified bool
	if err := pool.QueryRow(ctx, `SELECT verified_at IS NOT NULL FROM users WHERE uid = $1`, a.UID).Scan(&verified); err != nil || !verified {
		t.Fatalf("account verified = %v (%v), want true: the consuming transaction committed", verified, err)
	}
}
