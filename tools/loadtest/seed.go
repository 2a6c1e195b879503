package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The load tool seeds accounts straight into the database: signups are bound
// by the password hash (tens a second), so creating thousands of accounts
// through the API would take most of a run. Seeded rows are what signup
// writes: the same columns, a password hash made by auth-api's own passhash
// with the configured parameters, tokens stored as SHA-256 of 32
// random-looking bytes.

const seedPassword = "Load-Test-Passw0rd-7d41"

// seedAccounts inserts n verified accounts <prefix><i>@load.test (i from 1)
// sharing one password hash.
func seedAccounts(ctx context.Context, conn *pgx.Conn, prefix string, n int, hash string) error {
	_, err := conn.Exec(ctx, `
		INSERT INTO users (uid, username, email, password_hash, verified_at)
		SELECT md5($1 || i)::uuid, $1 || i, $1 || i || '@load.test', $2, now()
		FROM generate_series(1, $3::int) AS i`, prefix, hash, n)
	return err
}

// verifyToken is the secret of seeded token i of a prefix: the raw 32 bytes
// are SHA-256(prefix+i), so SQL can store their hash without a round trip.
func verifyToken(prefix string, i int64) string {
	raw := sha256.Sum256(fmt.Appendf(nil, "%s%d", prefix, i))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// seedTokens inserts n unverified accounts, each with one unused token whose
// secret is verifyToken(prefix, i).
func seedTokens(ctx context.Context, conn *pgx.Conn, prefix string, n int, hash string) error {
	if _, err := conn.Exec(ctx, `
		INSERT INTO users (uid, username, email, password_hash)
		SELECT md5($1 || i)::uuid, $1 || i, $1 || i || '@load.test', $2
		FROM generate_series(1, $3::int) AS i`, prefix, hash, n); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, `
		INSERT INTO verification_tokens (token_hash, uid, expires_at)
		SELECT sha256(sha256(convert_to($1 || i, 'UTF8'))), md5($1 || i)::uuid, now() + interval '1 day'
		FROM generate_series(1, $2::int) AS i`, prefix, n)
	return err
}
