package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// Sessions is what the session endpoints need from the rules
// (session.Service).
type Sessions interface {
	Start(ctx context.Context, uid string, emailVerified bool, userAgent string, ip netip.Addr) (session.Tokens, error)
	Refresh(ctx context.Context, token string) (session.Tokens, string, error)
	Logout(ctx context.Context, uid, sid, scope string) error
	Delete(ctx context.Context, uid, sid string) error
}

// Checker vouches for a request's bearer token (revocation.Checker); stale
// reports that PostgreSQL, not the deny-list, decided.
type Checker interface {
	Check(ctx context.Context, authorization string) (_ tokens.Claims, stale bool, _ error)
}

// Directory reads what a signed-in user may see of their account
// (postgres.Store).
type Directory interface {
	Profile(ctx context.Context, uid string) (session.Profile, error)
	ListSessions(ctx context.Context, uid string) ([]session.Session, error)
}

// maxUserAgent bounds the user agent a session keeps for its listing.
const maxUserAgent = 512

// tokenResponse is the token part of the login and refresh answers.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

func tokenFields(t session.Tokens) tokenResponse {
	return tokenResponse{AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: t.ExpiresIn, RefreshToken: t.RefreshToken}
}

// startSession begins the session of a login that has just succeeded (only
// verified accounts log in, so the token says email_verified).
func (a *api) startSession(r *http.Request, uid string) (tokenResponse, error) {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	ua = strings.ReplaceAll(strings.ToValidUTF8(ua, ""), "\x00", "") // PostgreSQL text holds no NUL
	ip, _ := netip.ParseAddr(a.clientIP.Of(r))
	t, err := a.sessions.Start(r.Context(), uid, true, ua, ip.Unmap())
	if err != nil {
		return tokenResponse{}, err
	}
	a.metrics.issued.WithLabelValues("login").Inc()
	return tokenFields(t), nil
}

type refreshRequest struct {
	RefreshToken *string `json:"refresh_token"`
}

func (a *api) handleRefresh(w http.ResponseWriter, r *http.Request) (string, error) {
	var req refreshRequest
	if err := decode(w, r, &req); err != nil {
		return "", err
	}
	if req.RefreshToken == nil {
		return "", &auth.ValidationError{Fields: map[string][]string{"refresh_token": {"This field is required."}}}
	}
	t, outcome, err := a.sessions.Refresh(r.Context(), *req.RefreshToken)
	if err != nil {
		return "", err
	}
	a.metrics.issued.WithLabelValues("refresh").Inc()
	writeJSON(w, http.StatusOK, tokenFields(t))
	return outcome, nil
}

// authenticate vouches for the request's bearer token. Two Authorization
// headers are refused: proxies may pick different ones.
func (a *api) authenticate(r *http.Request) (tokens.Claims, bool, error) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return tokens.Claims{}, false, tokens.ErrInvalid
	}
	return a.checker.Check(r.Context(), h[0])
}

// handleCheck is the ingress check (auth-url, ForwardAuth, ext_authz): 200
// with the user's id for a live session's token, 401 otherwise. No body.
// Counted, not logged (fastcheck.go).
func (a *api) handleCheck(w http.ResponseWriter, r *http.Request) (string, error) {
	quiet(r.Context())
	c, stale, err := a.authenticate(r)
	if err != nil {
		return "", err
	}
	w.Header().Set("X-User-ID", c.UID)
	w.Header().Set("X-User-Email-Verified", strconv.FormatBool(c.EmailVerified))
	w.WriteHeader(http.StatusOK)
	if stale {
		return "ok_db", nil
	}
	return "ok", nil
}

type meResponse struct {
	UID           string    `json:"uid"`
	Username      string    `json:"username"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at"`
}

func (a *api) handleMe(w http.ResponseWriter, r *http.Request) (string, error) {
	c, _, err := a.authenticate(r)
	if err != nil {
		return "", err
	}
	p, err := a.directory.Profile(r.Context(), c.UID)
	if err != nil {
		if errors.Is(err, session.ErrNotFound) {
			return "", revocation.ErrRevoked // the account is gone
		}
		return "", err
	}
	writeJSON(w, http.StatusOK, meResponse{UID: p.UID, Username: p.Username, Email: p.Email,
		EmailVerified: p.EmailVerified, CreatedAt: p.CreatedAt.UTC()})
	return "ok", nil
}

type logoutRequest struct {
	Scope *string `json:"scope"`
}

// handleLogout ends this session, or with {"scope": "others"|"all"} the
// user's others or all of them. The body is optional.
func (a *api) handleLogout(w http.ResponseWriter, r *http.Request) (string, error) {
	c, _, err := a.authenticate(r)
	if err != nil {
		return "", err
	}
	var req logoutRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			return "", err
		}
	}
	scope := session.ScopeSession
	if req.Scope != nil && *req.Scope != "this" {
		scope = *req.Scope
	}
	if err := a.sessions.Logout(r.Context(), c.UID, c.SessionID, scope); err != nil {
		return "", err
	}
	w.WriteHeader(http.StatusNoContent)
	return "ok", nil
}

type sessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	UserAgent  string    `json:"user_agent"`
	IP         *string   `json:"ip"`
	Current    bool      `json:"current"`
}

type sessionsResponse struct {
	Sessions []sessionView `json:"sessions"`
}

func (a *api) handleSessions(w http.ResponseWriter, r *http.Request) (string, error) {
	c, _, err := a.authenticate(r)
	if err != nil {
		return "", err
	}
	list, err := a.directory.ListSessions(r.Context(), c.UID)
	if err != nil {
		return "", err
	}
	out := sessionsResponse{Sessions: make([]sessionView, 0, len(list))}
	for _, s := range list {
		v := sessionView{ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(),
			UserAgent: s.UserAgent, Current: s.ID == c.SessionID}
		if s.ClientIP.IsValid() {
			ip := s.ClientIP.String()
			v.IP = &ip
		}
		out.Sessions = append(out.Sessions, v)
	}
	writeJSON(w, http.StatusOK, out)
	return "ok", nil
}

func (a *api) handleDeleteSession(w http.ResponseWriter, r *http.Request) (string, error) {
	c, _, err := a.authenticate(r)
	if err != nil {
		return "", err
	}
	if err := a.sessions.Delete(r.Context(), c.UID, mux.Vars(r)["id"]); err != nil {
		return "", err
	}
	w.WriteHeader(http.StatusNoContent)
	return "ok", nil
}

// publicDocument serves a fixed JSON document (the JWKS, the discovery
// document) that gateways may cache for maxAge.
func publicDocument(doc []byte, maxAge time.Duration) handler {
	cc := "public, max-age=" + strconv.Itoa(int(maxAge/time.Second))
	return func(w http.ResponseWriter, r *http.Request) (string, error) {
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
		return "ok", nil
	}
}

// pathJWKS is where the public keys are published (the discovery
// document's jwks_uri).
const pathJWKS = "/.well-known/jwks.json"

// unlimited adapts a handler like endpoint, without the per-IP limit.
func (a *api) unlimited(counter results, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		result, err := h(w, r)
		if err != nil {
			result = a.fail(w, r, err)
		}
		counter.inc(result)
	})
}
