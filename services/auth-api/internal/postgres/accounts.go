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
	"github.com/kairos-platform/identity/services/auth-api/verifysql"
)

// uniqueViolation is PostgreSQL's SQLSTATE for a unique index conflict.
const uniqueViolation = "23505"

// CreateAccount writes the account, its first verification token and the
// user.created event in one transaction. A conflict on the lower(email)
// index becomes auth.ErrDuplicateEmail: concurrent signups of one address
// wait on the index, and all but the first get the conflict, never a 500.
func (s *Store) CreateAccount(ctx context.Context, a auth.Account, t auth.Token, ev events.Event) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO users (uid, username, email, password_hash) VALUES ($1, $2, $3, $4)`,
			a.UID, a.Username, a.Email, a.PasswordHash)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == uniqueViolation {
			return auth.ErrDuplicateEmail
		}
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		if err := insertToken(ctx, tx, a.UID, t); err != nil {
			return err
		}
		return insertOutbox(ctx, tx, ev)
	})
}

// Reissue locks the account so that concurrent reissues for one address
// queue up: each revokes the tokens before it, and exactly one stays valid.
// An unknown address still spends its mail budget (one upsert, like a known
// one's), so the two take alike.
func (s *Store) Reissue(ctx context.Context, email string, decide func(auth.Account) auth.Reissue) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := accountByEmail(ctx, tx, email, true)
		if errors.Is(err, auth.ErrNotFound) {
			if _, err := spendMailBudget(ctx, tx, email, 0); err != nil {
				return err
			}
			return auth.ErrNotFound
		}
		if err != nil {
			return err
		}
		r := decide(a)
		if r.Event != nil && r.MailBudget > 0 {
			ok, err := spendMailBudget(ctx, tx, recipientOf(*r.Event), r.MailBudget)
			if err != nil {
				return err
			}
			if !ok {
				return auth.ErrOverBudget
			}
		}
		if r.ResetToken != nil {
			if err := replaceResetToken(ctx, tx, a.UID, *r.ResetToken); err != nil {
				return err
			}
		}
		if r.Token != nil {
			if _, err := tx.Exec(ctx,
				`UPDATE verification_tokens SET revoked_at = now()
				 WHERE uid = $1 AND used_at IS NULL AND revoked_at IS NULL`, a.UID); err != nil {
				return fmt.Errorf("revoke tokens: %w", err)
			}
			if err := insertToken(ctx, tx, a.UID, *r.Token); err != nil {
				return err
			}
		}
		if r.Event != nil {
			return insertOutbox(ctx, tx, *r.Event)
		}
		return nil
	})
}

// AccountByEmail finds an account whatever the letter case of email.
func (s *Store) AccountByEmail(ctx context.Context, email string) (_ auth.Account, err error) {
	defer markUnavailable(&err)
	return accountByEmail(ctx, s.pool, email, false)
}

func accountByEmail(ctx context.Context, q querier, email string, lock bool) (auth.Account, error) {
	return accountWhere(ctx, q, "lower(email) = lower($1)", email, lock, "account by email")
}

// accountWhere reads the one account matching where (with $1 = arg),
// locking its row when lock is set.
func accountWhere(ctx context.Context, q querier, where, arg string, lock bool, what string) (auth.Account, error) {
	sql := `SELECT uid::text, username, email, password_hash, verified_at IS NOT NULL, disabled_at IS NOT NULL FROM users WHERE ` + where
	if lock {
		sql += ` FOR UPDATE`
	}
	var a auth.Account
	err := q.QueryRow(ctx, sql, arg).Scan(&a.UID, &a.Username, &a.Email, &a.PasswordHash, &a.Verified, &a.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Account{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.Account{}, fmt.Errorf("%s: %w", what, err)
	}
	return a, nil
}

func insertToken(ctx context.Context, q querier, uid string, t auth.Token) error {
	if _, err := q.Exec(ctx,
		`INSERT INTO verification_tokens (token_hash, uid, expires_at) VALUES ($1, $2, $3)`,
		t.Hash, uid, t.ExpiresAt); err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

// ConsumeToken uses the token and verifies its account in one transaction
// (the statements are in verifysql, which the load tool replays). The
// conditional UPDATE makes concurrent clicks safe: exactly one consumes it,
// the others then see it used.
//
// The transaction takes two round trips instead of five: BEGIN goes out
// with the first statement, COMMIT with the last ones (pipelined batches
// on one connection). Verifying is the API's busiest database call, and
// each round trip costs both processes a wake-up and a pair of syscalls.
func (s *Store) ConsumeToken(ctx context.Context, hash []byte, now time.Time) (_ auth.TokenState, err error) {
	defer markUnavailable(&err)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return auth.TokenState{}, fmt.Errorf("acquire: %w", err)
	}
	// A connection left inside the transaction by an error is rolled back
	// here; the pool would otherwise drop it.
	defer func() {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		conn.Release()
	}()

	var uid string
	first := &pgx.Batch{}
	first.Queue("BEGIN")
	first.Queue(verifysql.ConsumeToken, hash, now).QueryRow(func(row pgx.Row) error { return row.Scan(&uid) })
	consumed := true
	if err := conn.SendBatch(ctx, first).Close(); errors.Is(err, pgx.ErrNoRows) {
		consumed = false
	} else if err != nil {
		return auth.TokenState{}, fmt.Errorf("consume token: %w", err)
	}

	rest := &pgx.Batch{}
	var st auth.TokenState
	if consumed {
		st = auth.TokenState{Found: true, Consumed: true}
		rest.Queue(verifysql.VerifyAccount, uid, now)
		rest.Queue(verifysql.RevokeOtherTokens, uid, now)
	} else {
		rest.Queue(`SELECT expires_at, used_at IS NOT NULL, revoked_at IS NOT NULL
			FROM verification_tokens WHERE token_hash = $1`, hash).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&st.ExpiresAt, &st.Used, &st.Revoked)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			st.Found = err == nil
			return err
		})
	}
	rest.Queue("COMMIT")
	if err := conn.SendBatch(ctx, rest).Close(); err != nil {
		if consumed {
			return auth.TokenState{}, fmt.Errorf("verify user: %w", err)
		}
		return auth.TokenState{}, fmt.Errorf("token state: %w", err)
	}
	return st, nil
}

// ReplacePasswordHash stores a rehashed password unless the hash changed
// meanwhile (another replica's rehash wins; either is fine).
func (s *Store) ReplacePasswordHash(ctx context.Context, uid, old, new string) (err error) {
	defer markUnavailable(&err)
	if _, err := s.pool.Exec(ctx,
		`UPDATE users SET password_hash = $3, updated_at = now() WHERE uid = $1 AND password_hash = $2`,
		uid, old, new); err != nil {
		return fmt.Errorf("replace password hash: %w", err)
	}
	return nil
}
