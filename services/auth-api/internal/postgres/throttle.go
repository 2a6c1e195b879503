package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The login throttle is keyed by the normalised email whether or not an
// account has it, so a lock says nothing about which addresses exist. It
// lives in PostgreSQL so that every replica sees the same state.

// LoginLockedUntil returns the end of key's lock, zero when there is none.
func (s *Store) LoginLockedUntil(ctx context.Context, key string) (_ time.Time, err error) {
	defer markUnavailable(&err)
	var until *time.Time
	err = s.pool.QueryRow(ctx, `SELECT locked_until FROM login_throttle WHERE email = $1`, key).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && until == nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("login throttle: %w", err)
	}
	return *until, nil
}

// RecordLoginFailure increments key's consecutive failures atomically (one
// statement, so concurrent failures from several replicas all count).
func (s *Store) RecordLoginFailure(ctx context.Context, key string, now time.Time) (_ int, err error) {
	defer markUnavailable(&err)
	var n int
	err = s.pool.QueryRow(ctx,
		`INSERT INTO login_throttle (email, failures, updated_at) VALUES ($1, 1, $2)
		 ON CONFLICT (email) DO UPDATE SET failures = login_throttle.failures + 1, updated_at = $2
		 RETURNING failures`, key, now).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("record login failure: %w", err)
	}
	return n, nil
}

// LockLogin sets key's lock end.
func (s *Store) LockLogin(ctx context.Context, key string, until time.Time) (err error) {
	defer markUnavailable(&err)
	if _, err := s.pool.Exec(ctx,
		`UPDATE login_throttle SET locked_until = $2, updated_at = now() WHERE email = $1`, key, until); err != nil {
		return fmt.Errorf("lock login: %w", err)
	}
	return nil
}

// ResetLoginFailures forgets key after a successful login.
func (s *Store) ResetLoginFailures(ctx context.Context, key string) (err error) {
	defer markUnavailable(&err)
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_throttle WHERE email = $1`, key); err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	return nil
}

// PruneLoginThrottle deletes entries untouched since before and not locked
// beyond it, so that guessed addresses do not accumulate forever.
func (s *Store) PruneLoginThrottle(ctx context.Context, before time.Time) (_ int64, err error) {
	defer markUnavailable(&err)
	tag, err := s.pool.Exec(ctx,
		`DELETE FROM login_throttle WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $1)`, before)
	if err != nil {
		return 0, fmt.Errorf("prune login throttle: %w", err)
	}
	return tag.RowsAffected(), nil
}
