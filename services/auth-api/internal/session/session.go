// Package session holds the rules of login sessions and their refresh tokens:
// the types the store reads and writes, the errors callers branch on, and the
// refresh-token secrets (see refresh.go). Access tokens are internal/tokens';
// revoked sessions on the hot path are internal/revocation's.
package session

import (
	"errors"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// Errors callers branch on. Every refresh failure answers the same 401; the
// distinction is for metrics (refresh outcomes) only.
var (
	ErrRefreshInvalid = errors.New("session: invalid refresh token")
	ErrRefreshExpired = errors.New("session: refresh token expired")
	// ErrRefreshReused: an already-rotated token came back after the grace
	// window (RFC 9700 §4.14.2); the whole session has been revoked.
	ErrRefreshReused = errors.New("session: refresh token reused, session revoked")
	// ErrNotFound: no live session with that id belongs to that user.
	ErrNotFound = errors.New("session: not found")
	// ErrUnknownScope: a logout scope other than "", "others" and "all".
	ErrUnknownScope = errors.New("session: unknown logout scope")
)

// Revocation reasons, as stored in sessions.revoke_reason and carried by
// session.revoked events.
const (
	ReasonLogout       = "logout"
	ReasonLogoutOthers = "logout_others"
	ReasonLogoutAll    = "logout_all"
	ReasonDeleted      = "deleted"
	ReasonRefreshReuse = "refresh_reuse"
)

// Session is one login as listed to its owner.
type Session struct {
	ID                string
	UID               string
	CreatedAt         time.Time
	LastUsedAt        time.Time
	UserAgent         string
	ClientIP          netip.Addr // invalid when unknown
	ExpiresAt         time.Time  // of the newest refresh token
	AbsoluteExpiresAt time.Time  // SESSION_MAX_AGE after login
}

// New is what a login hands the store: the session and its first refresh
// token (only its hash).
type New struct {
	ID          string // from NewID
	UID         string
	UserAgent   string
	ClientIP    netip.Addr
	RefreshHash []byte
	RefreshTTL  time.Duration // REFRESH_TOKEN_TTL
	MaxAge      time.Duration // SESSION_MAX_AGE
}

// Next is a rotation's proposed successor: its hash, and its plaintext sealed
// under the presented token (Seal), kept for retries within the grace window.
type Next struct {
	Hash   []byte
	Sealed []byte
}

// Policy bounds a rotation.
type Policy struct {
	TTL   time.Duration // REFRESH_TOKEN_TTL of the successor
	Grace time.Duration // REFRESH_REUSE_GRACE
}

// Outcome of a rotation that produced a token.
type Outcome int

const (
	// Rotated: the presented token was live; the proposed Next is now the
	// session's refresh token.
	Rotated Outcome = iota + 1
	// GraceRetry: the presented token was rotated moments ago; Sealed holds
	// that earlier successor, to be opened with the presented token.
	GraceRetry
)

// Rotation is the result of presenting a refresh token.
type Rotation struct {
	Outcome Outcome
	Session Session
	Sealed  []byte // GraceRetry only
	// EmailVerified is the owner's current state, for the access token.
	EmailVerified bool
}

// NewID returns a session id: a UUIDv7, whose leading 48 bits are the start
// time in milliseconds, so StartedAt can read it without a lookup.
func NewID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// StartedAt returns when the session named by a NewID id started; ok is
// false for an id that is not a UUIDv7.
func StartedAt(id string) (time.Time, bool) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	sec, nsec := u.Time().UnixTime()
	return time.Unix(sec, nsec).UTC(), true
}

// Profile is what GET /api/me shows of a session's owner.
type Profile struct {
	UID           string
	Username      string
	Email         string
	EmailVerified bool
	CreatedAt     time.Time
}
