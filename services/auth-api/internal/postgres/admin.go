package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/admin"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// The operators' reads and changes (internal/admin). Each change writes its
// audit row in its transaction.

const adminUserColumns = `uid::text, username, email, created_at, verified_at, disabled_at`

func scanAdminUser(row pgx.Row) (admin.User, error) {
	var u admin.User
	err := row.Scan(&u.UID, &u.Username, &u.Email, &u.CreatedAt, &u.VerifiedAt, &u.DisabledAt)
	return u, err
}

// SearchUsers lists users in (created_at, uid) order after f.After: by exact
// uid when f.Query is one, by email prefix otherwise.
func (s *Store) SearchUsers(ctx context.Context, f admin.Filter) (_ []admin.User, err error) {
	defer markUnavailable(&err)
	where := []string{"true"}
	args := []any{}
	add := func(cond string, vs ...any) {
		for _, v := range vs {
			args = append(args, v)
			cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(args)), 1)
		}
		where = append(where, cond)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		if id, err := uuid.Parse(q); err == nil {
			add("uid = ?", id)
		} else {
			add(`lower(email) LIKE ? ESCAPE '\'`, likePrefix(auth.NormalizeEmail(q)))
		}
	}
	switch f.Status {
	case admin.StatusUnverified:
		add("verified_at IS NULL AND disabled_at IS NULL")
	case admin.StatusVerified:
		add("verified_at IS NOT NULL AND disabled_at IS NULL")
	case admin.StatusDisabled:
		add("disabled_at IS NOT NULL")
	}
	if f.After != nil {
		after, err := uuid.Parse(f.After.UID)
		if err != nil {
			return []admin.User{}, nil // not a cursor of ours: nothing follows it
		}
		add("(created_at, uid) > (?, ?)", f.After.CreatedAt, after)
	}
	args = append(args, f.Limit)
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT %s FROM users WHERE %s ORDER BY created_at, uid LIMIT $%d`,
		adminUserColumns, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	defer rows.Close()
	out := []admin.User{}
	for rows.Next() {
		u, err := scanAdminUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// likePrefix escapes LIKE's wildcards in p and appends one.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}

// User reads one account for an operator.
func (s *Store) User(ctx context.Context, uid string) (_ admin.User, err error) {
	defer markUnavailable(&err)
	if _, perr := uuid.Parse(uid); perr != nil {
		return admin.User{}, auth.ErrNotFound
	}
	u, err := scanAdminUser(s.pool.QueryRow(ctx, `SELECT `+adminUserColumns+` FROM users WHERE uid = $1`, uid))
	return u, errNoRow(err, "user")
}

// Lockout reads the login lockout state of uid's address.
func (s *Store) Lockout(ctx context.Context, uid string) (_ admin.Lockout, err error) {
	defer markUnavailable(&err)
	l := admin.Lockout{Sources: []admin.LockedSource{}}
	err = s.pool.QueryRow(ctx, `
		SELECT coalesce((SELECT failures FROM login_throttle t WHERE t.email = lower(u.email)), 0)
		FROM users u WHERE uid = $1`, uid).Scan(&l.AccountFailures)
	if err := errNoRow(err, "account failures"); err != nil {
		return admin.Lockout{}, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT source, failures, CASE WHEN locked_until > now() THEN locked_until END
		FROM login_sources WHERE email = (SELECT lower(email) FROM users WHERE uid = $1)
		ORDER BY updated_at DESC LIMIT 50`, uid)
	if err != nil {
		return admin.Lockout{}, fmt.Errorf("login sources: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var src admin.LockedSource
		if err := rows.Scan(&src.Source, &src.Failures, &src.LockedUntil); err != nil {
			return admin.Lockout{}, err
		}
		l.Sources = append(l.Sources, src)
	}
	return l, rows.Err()
}

// lockUser locks uid's row and returns its normalised email.
func lockUser(ctx context.Context, tx pgx.Tx, uid string) (string, error) {
	if _, err := uuid.Parse(uid); err != nil {
		return "", auth.ErrNotFound
	}
	var email string
	err := tx.QueryRow(ctx, `SELECT lower(email) FROM users WHERE uid = $1 FOR UPDATE`, uid).Scan(&email)
	return email, errNoRow(err, "lock user")
}

// MarkVerified verifies uid and revokes its unused verification links.
func (s *Store) MarkVerified(ctx context.Context, uid string) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockUser(ctx, tx, uid); err != nil {
			return err
		}
		var already bool
		if err := tx.QueryRow(ctx, `SELECT verified_at IS NOT NULL FROM users WHERE uid = $1`, uid).Scan(&already); err != nil {
			return fmt.Errorf("verified: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET verified_at = coalesce(verified_at, now()), updated_at = now()
			WHERE uid = $1`, uid); err != nil {
			return fmt.Errorf("verify user: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE verification_tokens SET revoked_at = now()
			WHERE uid = $1 AND used_at IS NULL AND revoked_at IS NULL`, uid); err != nil {
			return fmt.Errorf("revoke verification tokens: %w", err)
		}
		return audit(ctx, tx, auth.AuditEntry{Action: auth.AuditUserVerified, TargetUID: uid,
			Detail: map[string]any{"already_verified": already}})
	})
}

// SetDisabled disables uid, revoking every session with a cutoff (a session
// starting concurrently is covered too), or enables it.
func (s *Store) SetDisabled(ctx context.Context, uid string, disabled bool) (_ events.Revocation, err error) {
	defer markUnavailable(&err)
	var rev events.Revocation
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockUser(ctx, tx, uid); err != nil {
			return err
		}
		action, set := auth.AuditUserEnabled, `NULL`
		if disabled {
			action, set = auth.AuditUserDisabled, `coalesce(disabled_at, now())`
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled_at = `+set+`, updated_at = now() WHERE uid = $1`, uid); err != nil {
			return fmt.Errorf("set disabled: %w", err)
		}
		if err := audit(ctx, tx, auth.AuditEntry{Action: action, TargetUID: uid}); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		var err error
		rev, err = revoke(ctx, tx, uid, "disabled", true, `WHERE uid = $1 AND revoked_at IS NULL`, uid)
		return err
	})
	return rev, err
}

// ClearLockout forgets every lockout state of uid's address.
func (s *Store) ClearLockout(ctx context.Context, uid string) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		email, err := lockUser(ctx, tx, uid)
		if err != nil {
			return err
		}
		if err := clearLoginLockout(ctx, tx, email); err != nil {
			return err
		}
		return audit(ctx, tx, auth.AuditEntry{Action: auth.AuditLoginUnlocked, TargetUID: uid})
	})
}

// SignOut revokes every session of an existing uid (its audit row is
// revoke's).
func (s *Store) SignOut(ctx context.Context, uid string) (_ events.Revocation, err error) {
	defer markUnavailable(&err)
	var rev events.Revocation
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockUser(ctx, tx, uid); err != nil {
			return err
		}
		var err error
		rev, err = revoke(ctx, tx, uid, "admin_sign_out", true, `WHERE uid = $1 AND revoked_at IS NULL`, uid)
		return err
	})
	return rev, err
}
