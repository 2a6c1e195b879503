// Package refreshsql holds the statement of auth-api's refresh-token
// rotation, the work of every POST /api/token/refresh/ with a live token.
//
// It sits outside internal/ for the reason verifysql does: the load tool
// (module tools) measures the database's ceiling of the refresh endpoint
// by running exactly this statement with pgbench, and Go lets no other
// module import an internal package. internal/postgres runs it; every
// other statement of the service lives there.
package refreshsql

// Rotate rotates the live refresh token whose hash is $1, in one statement
// (one round trip, its own transaction): it locks the token and its
// session, extends the session by $2 (an interval, never past its absolute
// expiry), inserts the successor with hash $3 expiring with the session,
// and marks the token rotated with that successor, sealed as $4. It returns
// the session's columns (id, uid, created_at, last_used_at, user_agent,
// client_ip, expires_at, absolute_expires_at) and whether the account is
// verified, or no row when the token is not live: unknown, rotated,
// expired, or of a revoked session. The caller then decides which in a
// transaction of its own (grace retry, reuse, expiry).
//
// Concurrent presentations of one token are safe: the second waits for the
// first's row lock, PostgreSQL re-checks rotated_at IS NULL on the row the
// first committed (READ COMMITTED), and it gets no row. The four parts are
// one statement's common-table expressions, which see one snapshot and run
// to completion together; they touch different rows (the session, the new
// token, the presented token), as PostgreSQL requires of one statement.
const Rotate = `WITH live AS (
	SELECT rt.token_hash, rt.session_id, u.verified_at IS NOT NULL AS verified
	FROM refresh_tokens rt
	JOIN sessions s ON s.id = rt.session_id
	JOIN users u ON u.uid = s.uid
	WHERE rt.token_hash = $1 AND rt.rotated_at IS NULL AND s.revoked_at IS NULL
	  AND rt.expires_at > now() AND s.absolute_expires_at > now()
	FOR UPDATE OF rt, s
), extended AS (
	UPDATE sessions s SET last_used_at = now(), expires_at = least(now() + $2::interval, s.absolute_expires_at)
	FROM live WHERE s.id = live.session_id
	RETURNING s.id, s.uid, s.created_at, s.last_used_at, s.user_agent, s.client_ip, s.expires_at, s.absolute_expires_at
), successor AS (
	INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
	SELECT $3, id, expires_at FROM extended
), rotated AS (
	UPDATE refresh_tokens rt SET rotated_at = now(), successor_hash = $3, successor_sealed = $4
	FROM live WHERE rt.token_hash = live.token_hash
)
SELECT e.id, e.uid, e.created_at, e.last_used_at, e.user_agent, e.client_ip, e.expires_at, e.absolute_expires_at, live.verified
FROM extended e CROSS JOIN live`
