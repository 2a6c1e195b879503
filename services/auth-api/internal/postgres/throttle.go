package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// The login throttle lives in PostgreSQL so that every replica sees the same
// state: login_sources per (normalised email, source), login_throttle per
// email for the account-wide count of untrusted failures. Both are keyed by
// the email whether or not an account has it, so a lock says nothing about
// which addresses exist.

// LoginThrottle reads the source's lock and the account-wide count at once.
func (s *Store) LoginThrottle(ctx context.Context, email, source string) (_ auth.LoginThrottle, err error) {
	defer markUnavailable(&err)
	var (
		until *time.Time
		n     *int
	)
	err = s.pool.QueryRow(ctx,
		`SELECT (SELECT locked_until FROM login_sources WHERE email = $1 AND source = $2),
		        (SELECT failures FROM login_throttle WHERE email = $1)`, email, source).Scan(&until, &n)
	if err != nil {
		return auth.LoginThrottle{}, fmt.Errorf("login throttle: %w", err)
	}
	var st auth.LoginThrottle
	if until != nil {
		st.SourceLockedUntil = *until
	}
	if n != nil {
		st.AccountFailures = *n
	}
	return st, nil
}

// RecordLoginFailure increments both counts in one statement (so concurrent
// failures on several replicas all count, and exactly one of them sees the
// account-wide count reach the ceiling) and writes the notice with it.
func (s *Store) RecordLoginFailure(ctx context.Context, f auth.LoginFailure) (source, account int, err error) {
	defer markUnavailable(&err)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var acct *int
		err := tx.QueryRow(ctx,
			`WITH src AS (
			     INSERT INTO login_sources (email, source, failures, updated_at) VALUES ($1, $2, 1, $3)
			     ON CONFLICT (email, source) DO UPDATE SET failures = login_sources.failures + 1, updated_at = $3
			     RETURNING failures),
			 acct AS (
			     INSERT INTO login_throttle (email, failures, updated_at) SELECT $1, 1, $3 WHERE $4
			     ON CONFLICT (email) DO UPDATE SET failures = login_throttle.failures + 1, updated_at = $3
			     RETURNING failures)
			 SELECT (SELECT failures FROM src), (SELECT failures FROM acct)`,
			f.Email, f.Source, f.Now, f.Untrusted).Scan(&source, &acct)
		if err != nil {
			return fmt.Errorf("record login failure: %w", err)
		}
		if acct != nil {
			account = *acct
		}
		if f.Notice != nil && account == f.Ceiling {
			if err := audit(ctx, tx, auth.AuditEntry{Action: auth.AuditLoginLocked, TargetUID: f.Notice.User.UID,
				Detail: map[string]any{"scope": "account", "failures": account}}); err != nil {
				return err
			}
			return insertOutbox(ctx, tx, *f.Notice)
		}
		return nil
	})
	return source, account, err
}

// LockLoginSource sets the end of a source's lock; the audit trail records
// it when the address has an account.
func (s *Store) LockLoginSource(ctx context.Context, email, source string, until time.Time) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var uid *string
		if err := tx.QueryRow(ctx, `
			WITH locked AS (UPDATE login_sources SET locked_until = $3, updated_at = now() WHERE email = $1 AND source = $2)
			SELECT (SELECT uid::text FROM users WHERE lower(email) = $1)`, email, source, until).Scan(&uid); err != nil {
			return fmt.Errorf("lock login source: %w", err)
		}
		if uid == nil {
			return nil
		}
		return audit(ctx, tx, auth.AuditEntry{Action: auth.AuditLoginLocked, TargetUID: *uid,
			Detail: map[string]any{"scope": "source", "source": source, "until": until.UTC()}})
	})
}

// ResetLoginFailures forgets the source's failures and the account-wide
// count after a successful login. Other sources keep their state: an
// attacker's lock is not lifted by the owner's login.
func (s *Store) ResetLoginFailures(ctx context.Context, email, source string) (err error) {
	defer markUnavailable(&err)
	if _, err := s.pool.Exec(ctx,
		`WITH acct AS (DELETE FROM login_throttle WHERE email = $1)
		 DELETE FROM login_sources WHERE email = $1 AND source = $2`, email, source); err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	return nil
}

// ClearLoginLockout forgets every lockout state of email: all its sources and
// the account-wide ceiling. A password reset calls it (inside its own
// transaction through clearLoginLockout): the new password makes every
// earlier guess moot. email is normalised (auth.NormalizeEmail).
func (s *Store) ClearLoginLockout(ctx context.Context, email string) (err error) {
	defer markUnavailable(&err)
	return clearLoginLockout(ctx, s.pool, email)
}

func clearLoginLockout(ctx context.Context, q querier, email string) error {
	if _, err := q.Exec(ctx,
		`WITH acct AS (DELETE FROM login_throttle WHERE email = $1)
		 DELETE FROM login_sources WHERE email = $1`, email); err != nil {
		return fmt.Errorf("clear login lockout: %w", err)
	}
	return nil
}

// PruneLoginThrottle deletes state untouched since before and not locked
// beyond it, so that guessed addresses do not accumulate forever. Account-wide
// counts at ceiling stay: they end only by a reset or a known-device login.
func (s *Store) PruneLoginThrottle(ctx context.Context, before time.Time, ceiling int) (_ int64, err error) {
	defer markUnavailable(&err)
	tag, err := s.pool.Exec(ctx,
		`WITH acct AS (DELETE FROM login_throttle WHERE updated_at < $1 AND failures < $2 RETURNING 1)
		 DELETE FROM login_sources WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $1)`, before, ceiling)
	if err != nil {
		return 0, fmt.Errorf("prune login throttle: %w", err)
	}
	return tag.RowsAffected(), nil
}
