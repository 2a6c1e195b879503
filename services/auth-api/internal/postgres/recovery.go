package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// mailWindow is the period of the mail budget.
const mailWindow = time.Hour

// recipientOf is the address an event's (first) email goes to.
func recipientOf(ev events.Event) string {
	if ev.Type == events.EmailChangeRequested {
		return ev.NewEmail
	}
	return ev.User.Email
}

// spendMailBudget counts one email to address in its current hour and
// reports whether it is within limit (limit 0: count only, always within).
// One upsert, so concurrent requests on every replica all count; a window
// older than an hour starts again at 1.
func spendMailBudget(ctx context.Context, q querier, address string, limit int) (bool, error) {
	key := budgetKey(address)
	var sent int
	err := q.QueryRow(ctx, `
		INSERT INTO mail_budget (address_hash, window_start, sent) VALUES ($1, now(), 1)
		ON CONFLICT (address_hash) DO UPDATE SET
		    sent = CASE WHEN mail_budget.window_start <= now() - $2::interval THEN 1 ELSE mail_budget.sent + 1 END,
		    window_start = CASE WHEN mail_budget.window_start <= now() - $2::interval THEN now() ELSE mail_budget.window_start END
		RETURNING sent`, key[:], mailWindow).Scan(&sent)
	if err != nil {
		return false, fmt.Errorf("mail budget: %w", err)
	}
	return limit <= 0 || sent <= limit, nil
}

// budgetKey is the mail budget's key of an address: no address in clear.
func budgetKey(address string) [32]byte {
	return sha256.Sum256([]byte(auth.NormalizeEmail(address)))
}

// PruneMailBudget deletes windows that ended before now: they hold nothing
// a later request needs.
func (s *Store) PruneMailBudget(ctx context.Context) (_ int64, err error) {
	defer markUnavailable(&err)
	tag, err := s.pool.Exec(ctx, `DELETE FROM mail_budget WHERE window_start <= now() - $1::interval`, mailWindow)
	if err != nil {
		return 0, fmt.Errorf("prune mail budget: %w", err)
	}
	return tag.RowsAffected(), nil
}

// replaceResetToken revokes uid's unused reset tokens and stores t.
func replaceResetToken(ctx context.Context, tx pgx.Tx, uid string, t auth.Token) error {
	if _, err := tx.Exec(ctx, `
		UPDATE password_reset_tokens SET revoked_at = now()
		WHERE uid = $1 AND used_at IS NULL AND revoked_at IS NULL`, uid); err != nil {
		return fmt.Errorf("revoke reset tokens: %w", err)
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO password_reset_tokens (token_hash, uid, expires_at) VALUES ($1, $2, $3)`,
		t.Hash, uid, t.ExpiresAt); err != nil {
		return fmt.Errorf("insert reset token: %w", err)
	}
	return nil
}

// ResetPassword uses the token and applies the reset in one transaction. The
// conditional UPDATE makes two concurrent resets with one token safe: one
// wins, the other finds it used.
func (s *Store) ResetPassword(ctx context.Context, hash []byte, passwordHash string, now time.Time,
	event func(auth.Account) events.Event) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var uid string
		err := tx.QueryRow(ctx, `
			UPDATE password_reset_tokens SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
			RETURNING uid::text`, hash, now).Scan(&uid)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrTokenInvalid
		}
		if err != nil {
			return fmt.Errorf("use reset token: %w", err)
		}
		a := auth.Account{UID: uid, PasswordHash: passwordHash, Verified: true}
		if err := tx.QueryRow(ctx, `
			UPDATE users SET password_hash = $2, verified_at = coalesce(verified_at, $3), updated_at = now()
			WHERE uid = $1 RETURNING username, email`, uid, passwordHash, now).Scan(&a.Username, &a.Email); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := clearLoginLockout(ctx, tx, auth.NormalizeEmail(a.Email)); err != nil {
			return err
		}
		if err := audit(ctx, tx, auth.AuditEntry{Action: auth.AuditPasswordReset, TargetUID: uid}); err != nil {
			return err
		}
		if _, err := revoke(ctx, tx, uid, "password_reset", true, `WHERE uid = $1 AND revoked_at IS NULL`, uid); err != nil {
			return err
		}
		return insertOutbox(ctx, tx, event(a))
	})
}
