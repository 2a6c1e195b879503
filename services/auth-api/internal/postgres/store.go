// Package postgres holds every SQL statement of auth-api but the verify
// transaction's three (in verifysql, which the load tool imports). It
// implements the interfaces declared by internal/auth and internal/outbox,
// and translates driver errors into their domain errors.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// querier is satisfied by the pool and by a transaction, so one query function
// runs inside or outside a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store is auth-api's database. It owns its transactions.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger // the audit trail's log lines
}

// New wraps a pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, log: slog.New(slog.DiscardHandler)}
}

// WithAuditLog returns the store writing a log line for every audit row it
// commits.
func (s *Store) WithAuditLog(log *slog.Logger) *Store { return &Store{pool: s.pool, log: log} }

// Ping reports whether PostgreSQL answers (the readiness condition).
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// inTx runs fn in a transaction, committing when it returns nil. The audit
// rows fn writes are logged once the commit has made them true.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	atx := &auditTx{Tx: tx}
	if err := fn(atx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, e := range atx.entries {
		s.logAudit(ctx, e)
	}
	return nil
}

// markUnavailable wraps errors that mean PostgreSQL cannot be reached now in
// auth.ErrUnavailable, so the API answers 503 with Retry-After (and recovers
// by itself once the server is back) instead of 500.
func markUnavailable(err *error) {
	if *err != nil && connectionLost(*err) && !errors.Is(*err, auth.ErrUnavailable) {
		*err = fmt.Errorf("%w: %w", auth.ErrUnavailable, *err)
	}
}

func connectionLost(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		// Class 08: connection exception; 57P01-03: shutting down, crashed,
		// cannot connect now (starting up or recovering).
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}
