package session

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// Store is the part of the database sessions need (postgres.Store).
type Store interface {
	CreateSession(ctx context.Context, n New) (Session, error)
	RotateRefresh(ctx context.Context, presented []byte, next Next, p Policy) (Rotation, events.Revocation, error)
	RevokeSession(ctx context.Context, uid, sid, reason string) (events.Revocation, error)
	RevokeOtherSessions(ctx context.Context, uid, keep, reason string) (events.Revocation, error)
	RevokeAllSessions(ctx context.Context, uid, reason string) (events.Revocation, error)
}

// Issuer signs access tokens (tokens.Authority).
type Issuer interface {
	Issue(uid, sid string, emailVerified bool) (string, tokens.Claims, error)
}

// Config is the session lifetimes.
type Config struct {
	RefreshTTL time.Duration // REFRESH_TOKEN_TTL
	MaxAge     time.Duration // SESSION_MAX_AGE
	ReuseGrace time.Duration // REFRESH_REUSE_GRACE
	AccessTTL  time.Duration // ACCESS_TOKEN_TTL, for expires_in
}

// Service starts, refreshes and ends sessions. Applied is called with every
// revocation this replica commits, so its own deny-list has it before the
// caller gets an answer (the others learn it from the SESSIONS stream).
type Service struct {
	Store   Store
	Issuer  Issuer
	Config  Config
	Applied func(events.Revocation)
}

// Tokens is what login and refresh answer.
type Tokens struct {
	AccessToken  string
	ExpiresIn    int // seconds
	RefreshToken string
	Claims       tokens.Claims
}

// Refresh outcomes, the label values of the refresh metric.
const (
	OutcomeRotated      = "rotated"
	OutcomeGraceRetry   = "grace_retry"
	OutcomeReuseRevoked = "reuse_revoked"
	OutcomeExpired      = "expired"
	OutcomeInvalid      = "invalid"
)

// Start begins a session for an account that has just logged in.
func (s *Service) Start(ctx context.Context, uid string, emailVerified bool, userAgent string, ip netip.Addr) (Tokens, error) {
	id, err := NewID()
	if err != nil {
		return Tokens{}, err
	}
	refresh, hash, err := NewRefreshToken()
	if err != nil {
		return Tokens{}, err
	}
	if _, err := s.Store.CreateSession(ctx, New{
		ID: id, UID: uid, UserAgent: userAgent, ClientIP: ip,
		RefreshHash: hash, RefreshTTL: s.Config.RefreshTTL, MaxAge: s.Config.MaxAge,
	}); err != nil {
		return Tokens{}, err
	}
	return s.access(uid, id, emailVerified, refresh)
}

// Refresh exchanges a refresh token for new tokens and returns the outcome
// for metrics. Every failure is ErrRefreshInvalid, ErrRefreshExpired or
// ErrRefreshReused (all a 401), or a storage error.
func (s *Service) Refresh(ctx context.Context, presented string) (Tokens, string, error) {
	if presented == "" || len(presented) > 256 {
		return Tokens{}, OutcomeInvalid, ErrRefreshInvalid
	}
	next, nextHash, err := NewRefreshToken()
	if err != nil {
		return Tokens{}, "", err
	}
	sealed, err := Seal(presented, next)
	if err != nil {
		return Tokens{}, "", err
	}
	rot, rev, err := s.Store.RotateRefresh(ctx, HashRefresh(presented), Next{Hash: nextHash, Sealed: sealed},
		Policy{TTL: s.Config.RefreshTTL, Grace: s.Config.ReuseGrace})
	switch {
	case errors.Is(err, ErrRefreshReused):
		s.apply(rev)
		return Tokens{}, OutcomeReuseRevoked, err
	case errors.Is(err, ErrRefreshExpired):
		return Tokens{}, OutcomeExpired, err
	case errors.Is(err, ErrRefreshInvalid):
		return Tokens{}, OutcomeInvalid, err
	case err != nil:
		return Tokens{}, "", err
	}
	outcome := OutcomeRotated
	if rot.Outcome == GraceRetry {
		outcome = OutcomeGraceRetry
		if next, err = Open(presented, rot.Sealed); err != nil {
			return Tokens{}, "", fmt.Errorf("grace retry: %w", err)
		}
	}
	t, err := s.access(rot.Session.UID, rot.Session.ID, rot.EmailVerified, next)
	return t, outcome, err
}

// Logout scopes.
const (
	ScopeSession = ""       // this session
	ScopeOthers  = "others" // every other session of the user
	ScopeAll     = "all"    // every session of the user
)

// Logout ends the caller's session, the user's others, or all of them.
func (s *Service) Logout(ctx context.Context, uid, sid, scope string) error {
	var (
		rev events.Revocation
		err error
	)
	switch scope {
	case ScopeSession:
		rev, err = s.Store.RevokeSession(ctx, uid, sid, ReasonLogout)
		if errors.Is(err, ErrNotFound) {
			return nil // already ended: logging out twice is not an error
		}
	case ScopeOthers:
		rev, err = s.Store.RevokeOtherSessions(ctx, uid, sid, ReasonLogoutOthers)
	case ScopeAll:
		rev, err = s.Store.RevokeAllSessions(ctx, uid, ReasonLogoutAll)
	default:
		return fmt.Errorf("%w: %q", ErrUnknownScope, scope)
	}
	if err != nil {
		return err
	}
	s.apply(rev)
	return nil
}

// Delete ends one of the user's sessions by id (DELETE /api/sessions/{id});
// ErrNotFound when the user has no such live session.
func (s *Service) Delete(ctx context.Context, uid, sid string) error {
	rev, err := s.Store.RevokeSession(ctx, uid, sid, ReasonDeleted)
	if err != nil {
		return err
	}
	s.apply(rev)
	return nil
}

func (s *Service) apply(rev events.Revocation) {
	if s.Applied != nil && (len(rev.SessionIDs) > 0 || rev.Before != nil) {
		s.Applied(rev)
	}
}

func (s *Service) access(uid, sid string, emailVerified bool, refresh string) (Tokens, error) {
	tok, claims, err := s.Issuer.Issue(uid, sid, emailVerified)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: tok, ExpiresIn: int(s.Config.AccessTTL / time.Second), RefreshToken: refresh, Claims: claims}, nil
}
