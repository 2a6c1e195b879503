package postgres

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/services/auth-api/internal/session"
)

// Profile reads the account a session belongs to (GET /api/me);
// session.ErrNotFound when there is none (deleted since the token was
// signed).
func (s *Store) Profile(ctx context.Context, uid string) (_ session.Profile, err error) {
	defer markUnavailable(&err)
	if _, perr := uuid.Parse(uid); perr != nil {
		return session.Profile{}, session.ErrNotFound
	}
	var p session.Profile
	err = s.pool.QueryRow(ctx, `
		SELECT uid::text, username, email, verified_at IS NOT NULL, created_at FROM users WHERE uid = $1`, uid).
		Scan(&p.UID, &p.Username, &p.Email, &p.EmailVerified, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return session.Profile{}, session.ErrNotFound
	}
	return p, err
}
