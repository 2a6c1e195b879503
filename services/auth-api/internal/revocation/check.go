package revocation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// Errors from Check besides tokens.ErrInvalid.
var (
	// ErrRevoked: a valid token of a revoked session.
	ErrRevoked = errors.New("revocation: session revoked")
	// ErrUnverifiable: the feed is stale and PostgreSQL did not answer, so
	// nobody can vouch for the token; never answer 200 for it.
	ErrUnverifiable = errors.New("revocation: cannot vouch for the session now")
)

// Sessions is what a stale replica asks instead (postgres.Store).
type Sessions interface {
	SessionLive(ctx context.Context, uid, sid string) (bool, error)
}

// Checker decides whether a request's bearer token may pass: the ingress
// check and every Bearer endpoint. On the hot path it is one signature
// verification and one deny-list lookup; PostgreSQL is consulted only while
// the feed is stale.
type Checker struct {
	Tokens *tokens.Authority
	List   *List
	DB     Sessions
	// MaxLag is how long the feed may go unheard before the list is not
	// trusted alone (a few seconds).
	MaxLag time.Duration
	Now    func() time.Time
}

// Check verifies the Authorization header's bearer token and the liveness of
// its session. stale reports that the answer came from PostgreSQL (for the
// check-outcome metric).
func (c *Checker) Check(ctx context.Context, authorization string) (_ tokens.Claims, stale bool, _ error) {
	token, ok := bearer(authorization)
	if !ok {
		return tokens.Claims{}, false, fmt.Errorf("%w: no bearer token", tokens.ErrInvalid)
	}
	claims, err := c.Tokens.Verify(token)
	if err != nil {
		return tokens.Claims{}, false, err
	}
	if c.List.Revoked(claims.UID, claims.SessionID) {
		return tokens.Claims{}, false, ErrRevoked
	}
	if !c.List.Stale(c.Now(), c.MaxLag) {
		return claims, false, nil
	}
	live, err := c.DB.SessionLive(ctx, claims.UID, claims.SessionID)
	switch {
	case err != nil:
		return tokens.Claims{}, true, fmt.Errorf("%w: %w", ErrUnverifiable, err)
	case !live:
		return tokens.Claims{}, true, ErrRevoked
	}
	return claims, true, nil
}

// bearer extracts the token of an RFC 6750 "Bearer" Authorization header;
// the scheme is case-insensitive.
func bearer(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || len(h) > tokens.MaxTokenBytes+len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimLeft(h[len(scheme):], " ")
	return t, t != ""
}
