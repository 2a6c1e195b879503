package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
	"github.com/kairos-platform/identity/services/auth-api/refreshsql"
)

// Sessions and refresh tokens. Every time is the database's now(), so
// replicas with drifting clocks agree on expiry and on the grace window.
// Each revocation writes its session.revoked event to the outbox in the same
// transaction and returns it, so the replica that revoked can apply it to its
// own deny-list at once instead of waiting for the round trip via NATS.

const sessionColumns = `id, uid, created_at, last_used_at, user_agent, client_ip, expires_at, absolute_expires_at`

func scanSession(row pgx.Row) (session.Session, error) {
	var s session.Session
	var id, uid uuid.UUID
	var ip *netip.Addr
	if err := row.Scan(&id, &uid, &s.CreatedAt, &s.LastUsedAt, &s.UserAgent, &ip, &s.ExpiresAt, &s.AbsoluteExpiresAt); err != nil {
		return session.Session{}, err
	}
	s.ID, s.UID = id.String(), uid.String()
	if ip != nil {
		s.ClientIP = *ip
	}
	return s, nil
}

// CreateSession starts a session with its first refresh token.
func (s *Store) CreateSession(ctx context.Context, n session.New) (_ session.Session, err error) {
	defer markUnavailable(&err)
	var ip *netip.Addr
	if n.ClientIP.IsValid() {
		ip = &n.ClientIP
	}
	var out session.Session
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanSession(tx.QueryRow(ctx, `
			INSERT INTO sessions (id, uid, user_agent, client_ip, expires_at, absolute_expires_at)
			VALUES ($1, $2, $3, $4, now() + least($5::interval, $6::interval), now() + $6::interval)
			RETURNING `+sessionColumns,
			n.ID, n.UID, n.UserAgent, ip, n.RefreshTTL, n.MaxAge))
		if err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)`,
			n.RefreshHash, n.ID, out.ExpiresAt); err != nil {
			return fmt.Errorf("insert refresh token: %w", err)
		}
		return nil
	})
	return out, err
}

// RotateRefresh presents the refresh token whose hash is presented and, if it
// is live, makes next its successor. The token row and its session row are
// locked for the decision, so concurrent presentations of one token on any
// number of replicas produce one successor: the first rotates, the others
// wait and then see a rotated token, which within the grace window is a
// GraceRetry carrying the same (sealed) successor.
//
// A rotated token presented after the grace window, or whose successor has
// itself been rotated already, is reuse: the session is revoked and the
// returned error is session.ErrRefreshReused together with the revocation
// to apply (the transaction commits even though the call fails).
//
// A live token, the common case, is rotated by one statement (refreshsql.Rotate:
// one round trip instead of a transaction's six); only a token that
// statement does not rotate takes the transaction below, which tells the
// other cases apart.
func (s *Store) RotateRefresh(ctx context.Context, presented []byte, next session.Next, p session.Policy) (_ session.Rotation, _ events.Revocation, err error) {
	defer markUnavailable(&err)
	rot, err := s.rotateLive(ctx, presented, next, p)
	switch {
	case err == nil:
		return rot, events.Revocation{}, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return session.Rotation{}, events.Revocation{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	return s.rotateOther(ctx, presented, next, p)
}

// rotateLive rotates a live token in one statement; pgx.ErrNoRows when the
// token is not live.
func (s *Store) rotateLive(ctx context.Context, presented []byte, next session.Next, p session.Policy) (session.Rotation, error) {
	var (
		rot     session.Rotation
		id, uid uuid.UUID
		ip      *netip.Addr
		ss      session.Session
	)
	err := s.pool.QueryRow(ctx, refreshsql.Rotate, presented, p.TTL, next.Hash, next.Sealed).Scan(
		&id, &uid, &ss.CreatedAt, &ss.LastUsedAt, &ss.UserAgent, &ip, &ss.ExpiresAt, &ss.AbsoluteExpiresAt, &rot.EmailVerified)
	if err != nil {
		return session.Rotation{}, err
	}
	ss.ID, ss.UID = id.String(), uid.String()
	if ip != nil {
		ss.ClientIP = *ip
	}
	rot.Outcome, rot.Session = session.Rotated, ss
	return rot, nil
}

// rotateOther decides, under the token's and its session's row locks, what
// a presented token that is not live gets: a grace retry, the revocation of
// its session (reuse), or a refusal. It rotates a live token too, so that
// the outcome never depends on which way a race with the statement went.
func (s *Store) rotateOther(ctx context.Context, presented []byte, next session.Next, p session.Policy) (_ session.Rotation, _ events.Revocation, err error) {
	var (
		rot    session.Rotation
		rev    events.Revocation
		result error
	)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var (
			sid, uid                           uuid.UUID
			expired, rotated, inGrace, revoked bool
			successorRotated                   bool
			sealed                             []byte
		)
		err := tx.QueryRow(ctx, `
			SELECT rt.session_id, s.uid,
			       rt.expires_at <= now() OR s.absolute_expires_at <= now(),
			       rt.rotated_at IS NOT NULL,
			       rt.rotated_at IS NOT NULL AND rt.rotated_at > now() - $2::interval,
			       s.revoked_at IS NOT NULL,
			       rt.successor_sealed,
			       u.verified_at IS NOT NULL
			FROM refresh_tokens rt
			JOIN sessions s ON s.id = rt.session_id
			JOIN users u ON u.uid = s.uid
			WHERE rt.token_hash = $1
			FOR UPDATE OF rt, s`,
			presented, p.Grace).Scan(&sid, &uid, &expired, &rotated, &inGrace, &revoked, &sealed, &rot.EmailVerified)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			result = session.ErrRefreshInvalid
			return nil
		case err != nil:
			return fmt.Errorf("lock refresh token: %w", err)
		case revoked:
			result = session.ErrRefreshInvalid
			return nil
		case rotated && inGrace && sealed != nil:
			// A new statement, so a new snapshot: rotating the successor
			// needs the session lock we now hold, so this sees its state.
			if err := tx.QueryRow(ctx, `
				SELECT rotated_at IS NOT NULL FROM refresh_tokens
				WHERE token_hash = (SELECT successor_hash FROM refresh_tokens WHERE token_hash = $1)`,
				presented).Scan(&successorRotated); err != nil {
				return fmt.Errorf("successor state: %w", err)
			}
		}
		switch {
		case rotated && inGrace && sealed != nil && !successorRotated:
			rot.Outcome, rot.Sealed = session.GraceRetry, sealed
			rot.Session, err = scanSession(tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, sid))
			return err
		case rotated:
			rev, err = revoke(ctx, tx, uid.String(), session.ReasonRefreshReuse, false,
				`WHERE id = $1 AND revoked_at IS NULL`, sid)
			result = session.ErrRefreshReused
			return err
		case expired:
			result = session.ErrRefreshExpired
			return nil
		}
		rot.Outcome = session.Rotated
		rot.Session, err = scanSession(tx.QueryRow(ctx, `
			UPDATE sessions SET last_used_at = now(),
			       expires_at = least(now() + $2::interval, absolute_expires_at)
			WHERE id = $1
			RETURNING `+sessionColumns, sid, p.TTL))
		if err != nil {
			return fmt.Errorf("extend session: %w", err)
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)`,
			next.Hash, sid, rot.Session.ExpiresAt); err != nil {
			return fmt.Errorf("insert successor: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE refresh_tokens SET rotated_at = now(), successor_hash = $2, successor_sealed = $3
			WHERE token_hash = $1`, presented, next.Hash, next.Sealed); err != nil {
			return fmt.Errorf("mark rotated: %w", err)
		}
		return nil
	})
	if err != nil {
		return session.Rotation{}, events.Revocation{}, err
	}
	if result != nil {
		return session.Rotation{}, rev, result
	}
	return rot, events.Revocation{}, nil
}

// ListSessions returns uid's live sessions, most recently used first.
func (s *Store) ListSessions(ctx context.Context, uid string) (_ []session.Session, err error) {
	defer markUnavailable(&err)
	rows, err := s.pool.Query(ctx, `
		SELECT `+sessionColumns+` FROM sessions
		WHERE uid = $1 AND revoked_at IS NULL AND expires_at > now()
		ORDER BY last_used_at DESC, id`, uid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []session.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}

// RevokeSession revokes one live session of uid (logout, DELETE
// /api/sessions/{id}). session.ErrNotFound when uid has no such live session,
// whether it never existed, belongs to somebody else or is already revoked.
func (s *Store) RevokeSession(ctx context.Context, uid, sid, reason string) (_ events.Revocation, err error) {
	defer markUnavailable(&err)
	if _, perr := uuid.Parse(sid); perr != nil {
		return events.Revocation{}, session.ErrNotFound
	}
	var rev events.Revocation
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		rev, err = revoke(ctx, tx, uid, reason, false, `WHERE uid = $1 AND id = $2 AND revoked_at IS NULL`, uid, sid)
		return err
	})
	if err == nil && len(rev.SessionIDs) == 0 {
		return events.Revocation{}, session.ErrNotFound
	}
	return rev, err
}

// RevokeOtherSessions revokes every live session of uid but keep. The
// revocation names no session (and no event is written) when there was none.
func (s *Store) RevokeOtherSessions(ctx context.Context, uid, keep, reason string) (_ events.Revocation, err error) {
	defer markUnavailable(&err)
	var rev events.Revocation
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		rev, err = revoke(ctx, tx, uid, reason, false, `WHERE uid = $1 AND id <> $2 AND revoked_at IS NULL`, uid, keep)
		return err
	})
	return rev, err
}

// RevokeAllSessions revokes every session of uid, and sets the revocation's
// Before to the database's now(): a session that started earlier but was
// not yet committed when the UPDATE ran is still covered on the deny-list.
// The event is written even when no session was live.
func (s *Store) RevokeAllSessions(ctx context.Context, uid, reason string) (_ events.Revocation, err error) {
	defer markUnavailable(&err)
	var rev events.Revocation
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		rev, err = revoke(ctx, tx, uid, reason, true, `WHERE uid = $1 AND revoked_at IS NULL`, uid)
		return err
	})
	return rev, err
}

// revoke marks the sessions matched by where as revoked and writes the
// session.revoked event to the outbox. With cutoff the event also carries
// Before = now() and is written even when no row matched.
func revoke(ctx context.Context, tx pgx.Tx, uid, reason string, cutoff bool, where string, args ...any) (events.Revocation, error) {
	n := len(args) + 1
	rows, err := tx.Query(ctx, fmt.Sprintf(`
		UPDATE sessions SET revoked_at = now(), revoke_reason = $%d
		%s RETURNING id, now()`, n, where), append(args, reason)...)
	if err != nil {
		return events.Revocation{}, fmt.Errorf("revoke sessions: %w", err)
	}
	var ids []string
	var now time.Time
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id, &now); err != nil {
			rows.Close()
			return events.Revocation{}, err
		}
		ids = append(ids, id.String())
	}
	if err := rows.Err(); err != nil {
		return events.Revocation{}, fmt.Errorf("revoke sessions: %w", err)
	}
	if len(ids) == 0 && !cutoff {
		return events.Revocation{}, nil
	}
	if now.IsZero() {
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
			return events.Revocation{}, err
		}
	}
	now = now.UTC()
	rev := events.Revocation{
		ID: uuid.NewString(), Type: events.SessionRevoked, Version: events.Version,
		OccurredAt: now, UID: uid, SessionIDs: ids, Reason: reason,
	}
	if cutoff {
		rev.Before = &now
	}
	if err := insertRevocation(ctx, tx, rev); err != nil {
		return events.Revocation{}, err
	}
	if err := audit(ctx, tx, auth.AuditEntry{Action: auth.AuditSessionsRevoked, TargetUID: uid,
		Detail: map[string]any{"reason": reason, "sessions": len(ids)}}); err != nil {
		return events.Revocation{}, err
	}
	return rev, nil
}

// SessionLive reports whether sid is an unrevoked session of uid: the
// check's fallback when the revocation feed is stale.
func (s *Store) SessionLive(ctx context.Context, uid, sid string) (_ bool, err error) {
	defer markUnavailable(&err)
	if _, perr := uuid.Parse(sid); perr != nil {
		return false, nil
	}
	var live bool
	err = s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM sessions
		               WHERE id = $1 AND uid::text = $2 AND revoked_at IS NULL AND absolute_expires_at > now())`,
		sid, uid).Scan(&live)
	return live, err
}

// TouchSession records use of a session, at most once per every: /api/me and
// the like may call it on every request without a write each time.
func (s *Store) TouchSession(ctx context.Context, sid string, every time.Duration) (err error) {
	defer markUnavailable(&err)
	_, err = s.pool.Exec(ctx, `
		UPDATE sessions SET last_used_at = now()
		WHERE id = $1 AND revoked_at IS NULL AND last_used_at < now() - $2::interval`, sid, every)
	return err
}

// DeleteEndedSessions removes sessions (and, by cascade, their refresh
// tokens) that expired or were revoked more than keep ago, and refresh tokens
// past their own expiry. Rotated tokens stay until then: reuse detection
// needs them.
func (s *Store) DeleteEndedSessions(ctx context.Context, keep time.Duration) (_ int64, err error) {
	defer markUnavailable(&err)
	var n int64
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			DELETE FROM sessions
			WHERE expires_at < now() - $1::interval OR revoked_at < now() - $1::interval`, keep)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < now() - $1::interval`, keep)
		return err
	})
	return n, err
}
