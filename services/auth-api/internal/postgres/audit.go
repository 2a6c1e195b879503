package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/services/auth-api/internal/admin"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// The audit trail (audit_log, migration 00006): append-only for the
// service's role; only audit_log_prune deletes.

// auditTx is the transaction inTx hands out: it remembers the audit rows
// written in it, to be logged after the commit.
type auditTx struct {
	pgx.Tx
	entries []auth.AuditEntry
}

// insertAudit writes e, with the actor, request id and client address of
// ctx (auth.WithActor). Within inTx the log line follows the commit;
// elsewhere the caller logs it.
func insertAudit(ctx context.Context, q querier, e auth.AuditEntry) (auth.AuditEntry, error) {
	who := auth.ActorFrom(ctx)
	if e.Actor == "" {
		e.Actor = who.Name
	}
	e.RequestID, e.ClientIP = who.RequestID, ""
	var ip *netip.Addr
	if a, err := netip.ParseAddr(who.ClientIP); err == nil {
		ip, e.ClientIP = &a, a.String()
	}
	var target *uuid.UUID
	if id, err := uuid.Parse(e.TargetUID); err == nil {
		target = &id
	}
	if e.Outcome == "" {
		e.Outcome = auth.OutcomeOK
	}
	detail, err := json.Marshal(e.Detail)
	if err != nil || e.Detail == nil {
		detail = []byte("{}")
	}
	if err := q.QueryRow(ctx, `
		INSERT INTO audit_log (actor, action, target_uid, request_id, client_ip, outcome, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, at`,
		e.Actor, e.Action, target, e.RequestID, ip, e.Outcome, detail).Scan(&e.ID, &e.At); err != nil {
		return e, fmt.Errorf("insert audit row: %w", err)
	}
	if atx, ok := q.(*auditTx); ok {
		atx.entries = append(atx.entries, e)
	}
	return e, nil
}

// audit writes e in tx (which inTx made an auditTx).
func audit(ctx context.Context, tx pgx.Tx, e auth.AuditEntry) error {
	_, err := insertAudit(ctx, tx, e)
	return err
}

// logAudit is the structured log line of a committed audit row. It names
// no address: the row has it, the log need not.
func (s *Store) logAudit(ctx context.Context, e auth.AuditEntry) {
	s.log.InfoContext(ctx, "audit", "actor", e.Actor, "action", e.Action, "target_uid", e.TargetUID,
		"outcome", e.Outcome, "request_id", e.RequestID, "audit_id", e.ID)
}

// WriteAudit records an action that changed nothing in the database (a
// refusal, a failure, a resent link).
func (s *Store) WriteAudit(ctx context.Context, e auth.AuditEntry) (err error) {
	defer markUnavailable(&err)
	if e, err = insertAudit(ctx, s.pool, e); err != nil {
		return err
	}
	s.logAudit(ctx, e)
	return nil
}

// Audit reads the trail, newest first, a page at a time.
func (s *Store) Audit(ctx context.Context, f admin.AuditFilter) (_ []auth.AuditEntry, err error) {
	defer markUnavailable(&err)
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if f.UID != "" {
		id, err := uuid.Parse(f.UID)
		if err != nil {
			return []auth.AuditEntry{}, nil // no row names a malformed uid
		}
		arg("target_uid = ?", id)
	}
	if f.Action != "" {
		arg("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		arg("at >= ?", f.Since)
	}
	if f.Before > 0 {
		arg("id < ?", f.Before)
	}
	sql := `SELECT id, at, actor, action, coalesce(target_uid::text, ''), request_id,
	               coalesce(host(client_ip), ''), outcome, detail FROM audit_log`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	sql += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	out := []auth.AuditEntry{}
	for rows.Next() {
		var e auth.AuditEntry
		var detail []byte
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.TargetUID, &e.RequestID, &e.ClientIP, &e.Outcome, &detail); err != nil {
			return nil, err
		}
		if len(detail) > 2 {
			_ = json.Unmarshal(detail, &e.Detail)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneAudit deletes audit rows older than keep through audit_log_prune,
// the one way rows leave the table.
func (s *Store) PruneAudit(ctx context.Context, keep time.Duration) (_ int64, err error) {
	defer markUnavailable(&err)
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT audit_log_prune($1::interval)`, keep).Scan(&n); err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	return n, nil
}

// errNoRow turns pgx's no-row into the domain's not-found.
func errNoRow(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
