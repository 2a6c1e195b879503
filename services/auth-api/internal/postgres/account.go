package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// The authenticated account changes: password change, email change and
// deletion. Each is one transaction with its events.

// AccountByUID finds an account by its uid.
func (s *Store) AccountByUID(ctx context.Context, uid string) (_ auth.Account, err error) {
	defer markUnavailable(&err)
	return accountByUID(ctx, s.pool, uid, false)
}

func accountByUID(ctx context.Context, q querier, uid string, lock bool) (auth.Account, error) {
	return accountWhere(ctx, q, "uid::text = $1", uid, lock, "account by uid")
}

// ChangePassword sets the hash and ends every other session of uid.
func (s *Store) ChangePassword(ctx context.Context, uid, keepSession, passwordHash string, event func(auth.Account) events.Event) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := accountByUID(ctx, tx, uid, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE uid = $1`, uid, passwordHash); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := audit(ctx, tx, auth.AuditEntry{Action: auth.AuditPasswordChanged, TargetUID: uid}); err != nil {
			return err
		}
		if _, err := revoke(ctx, tx, uid, "password_change", false,
			`WHERE uid = $1 AND id::text <> $2 AND revoked_at IS NULL`, uid, keepSession); err != nil {
			return err
		}
		return insertOutbox(ctx, tx, event(a))
	})
}

// RequestEmailChange stores a pending change to newEmail.
func (s *Store) RequestEmailChange(ctx context.Context, uid, newEmail string, build func(auth.Account, bool) auth.EmailChange) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := accountByUID(ctx, tx, uid, true)
		if err != nil {
			return err
		}
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1) AND uid::text <> $2)`,
			newEmail, uid).Scan(&taken); err != nil {
			return fmt.Errorf("email taken: %w", err)
		}
		// The new address's budget is spent either way, so that a taken
		// address costs what a free one does.
		ok, err := spendMailBudget(ctx, tx, newEmail, 0)
		if err != nil {
			return err
		}
		c := build(a, taken)
		if c.Event == nil {
			return nil
		}
		if c.MailBudget > 0 {
			if ok, err = withinBudget(ctx, tx, newEmail, c.MailBudget); err != nil {
				return err
			}
		}
		if !ok {
			return auth.ErrOverBudget
		}
		if _, err := tx.Exec(ctx, `UPDATE email_change_tokens SET revoked_at = now()
			WHERE uid = $1 AND used_at IS NULL AND revoked_at IS NULL`, uid); err != nil {
			return fmt.Errorf("revoke email change tokens: %w", err)
		}
		if c.Token != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO email_change_tokens (token_hash, uid, new_email, expires_at) VALUES ($1, $2, $3, $4)`,
				c.Token.Hash, uid, newEmail, c.Token.ExpiresAt); err != nil {
				return fmt.Errorf("insert email change token: %w", err)
			}
		}
		return insertOutbox(ctx, tx, *c.Event)
	})
}

// ConfirmEmailChange moves the account to the token's address.
func (s *Store) ConfirmEmailChange(ctx context.Context, hash []byte, now time.Time, event func(auth.Account, string) events.Event) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var uid, newEmail string
		err := tx.QueryRow(ctx, `
			UPDATE email_change_tokens SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
			RETURNING uid::text, new_email`, hash, now).Scan(&uid, &newEmail)
		if errors.Is(err, pgx.ErrNoRows) {
			// Used already, within its lifetime: the change is made (a mail
			// scanner opened the link first), so the person's click succeeds.
			var applied bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM email_change_tokens
				WHERE token_hash = $1 AND used_at IS NOT NULL AND expires_at > $2)`, hash, now).Scan(&applied); err != nil {
				return fmt.Errorf("email change token state: %w", err)
			}
			if applied {
				return nil
			}
			return auth.ErrTokenInvalid
		}
		if err != nil {
			return fmt.Errorf("use email change token: %w", err)
		}
		a, err := accountByUID(ctx, tx, uid, true)
		if err != nil {
			return err
		}
		previous := a.Email
		_, err = tx.Exec(ctx, `UPDATE users SET email = $2, verified_at = coalesce(verified_at, $3), updated_at = now() WHERE uid = $1`,
			uid, newEmail, now)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == uniqueViolation {
			return auth.ErrTokenInvalid // taken since the request: like verify, just invalid
		}
		if err != nil {
			return fmt.Errorf("change email: %w", err)
		}
		a.Email, a.Verified = newEmail, true
		if err := audit(ctx, tx, auth.AuditEntry{Action: auth.AuditEmailChanged, TargetUID: uid}); err != nil {
			return err
		}
		return insertOutbox(ctx, tx, event(a, previous))
	})
}

// DeleteAccount deletes uid; its tokens and sessions go by cascade, after
// the revocation event that covers their access tokens.
func (s *Store) DeleteAccount(ctx context.Context, uid string, event func(auth.Account) events.Event) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := accountByUID(ctx, tx, uid, true)
		if err != nil {
			return err
		}
		if _, err := revoke(ctx, tx, uid, "deleted", true, `WHERE uid = $1 AND revoked_at IS NULL`, uid); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE uid = $1`, uid); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		if err := clearLoginLockout(ctx, tx, auth.NormalizeEmail(a.Email)); err != nil {
			return err
		}
		if err := audit(ctx, tx, auth.AuditEntry{Action: auth.AuditUserDeleted, TargetUID: uid}); err != nil {
			return err
		}
		return insertOutbox(ctx, tx, event(a))
	})
}

// withinBudget reports whether address's current window is within limit
// (after spendMailBudget counted this email).
func withinBudget(ctx context.Context, q querier, address string, limit int) (bool, error) {
	key := budgetKey(address)
	var sent int
	if err := q.QueryRow(ctx, `SELECT sent FROM mail_budget WHERE address_hash = $1`, key[:]).Scan(&sent); err != nil {
		return false, fmt.Errorf("mail budget: %w", err)
	}
	return sent <= limit, nil
}
