package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/admin"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// answer is what an error becomes: the status, the body, Retry-After in
// seconds (no header when 0) and the label it is counted under in the
// per-endpoint counters. logMsg, when set, is logged once with the request id.
// A refusal is answered the cheap way (refusal.go).
type answer struct {
	status     int
	body       any
	challenge  bool // WWW-Authenticate: Bearer (RFC 6750)
	retryAfter int
	result     string
	logLevel   slog.Level
	logMsg     string
	refusal    bool
}

// requestError is an error of the HTTP layer itself (the body, the path, the
// method), with the status, message and counter label it is answered with.
type requestError struct {
	status int
	msg    string
	result string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(msg string) *requestError {
	return &requestError{http.StatusBadRequest, msg, "invalid"}
}

var (
	errMalformed        = badRequest("Malformed JSON.")
	errTooLarge         = &requestError{http.StatusRequestEntityTooLarge, "Request body too large (limit 64 KiB).", "invalid"}
	errUnsupportedMedia = &requestError{http.StatusUnsupportedMediaType, "Unsupported media type; send application/json.", "invalid"}
	errNotFound         = &requestError{http.StatusNotFound, "Not found.", "error"}
)

func errMethod(method string) error {
	return &requestError{http.StatusMethodNotAllowed, "Method \"" + method + "\" not allowed.", "error"}
}

// rateLimitedError: the client IP has no tokens left.
type rateLimitedError struct{ retryAfter time.Duration }

func (e *rateLimitedError) Error() string { return "rate limited" }

// unavailableRetry is the Retry-After of a 503 while the database is away:
// a restarting PostgreSQL is usually back within seconds.
const unavailableRetry = 2 * time.Second

// The 401 bodies of bad refresh and access tokens.
const (
	msgBadRefresh = "Invalid refresh token"
	msgBadAccess  = "Invalid or expired access token"
)

type message struct {
	Message string `json:"message"`
}

// internalError is the whole body of every 500: what went wrong is logged,
// never told.
var internalError = message{"Internal server error."}

// answerFor is the one mapping from errors to responses. Anything it does
// not know is a 500 with a generic body, logged.
func (a *api) answerFor(err error) answer {
	var (
		req    *requestError
		ve     *auth.ValidationError
		locked *auth.LockedError
		rl     *rateLimitedError
	)
	switch {
	case errors.As(err, &req):
		return answer{status: req.status, body: message{req.msg}, result: req.result}
	case errors.As(err, &ve):
		return answer{status: http.StatusBadRequest, body: ve.Fields, result: "invalid"}
	case errors.Is(err, auth.ErrInvalidCredentials):
		return answer{status: http.StatusUnauthorized, body: message{"Invalid credentials"}, result: "invalid_credentials"}
	case errors.Is(err, auth.ErrNotVerified):
		return answer{status: http.StatusForbidden, body: message{"Please verify your email first"}, result: "unverified"}
	case errors.Is(err, auth.ErrTokenExpired): // an ErrTokenInvalid, counted apart
		return answer{status: http.StatusBadRequest, body: message{"Invalid token"}, result: "expired"}
	case errors.Is(err, auth.ErrTokenInvalid):
		return answer{status: http.StatusBadRequest, body: message{"Invalid token"}, result: "invalid"}
	case errors.As(err, &locked) && locked.Account:
		return answer{status: http.StatusTooManyRequests, retryAfter: retryAfterSeconds(locked.RetryAfter), result: "locked",
			body: message{"Too many failed sign-ins for this account. Sign in from a device you used before, or reset your password."}}
	case errors.As(err, &locked):
		return answer{status: http.StatusTooManyRequests, retryAfter: retryAfterSeconds(locked.RetryAfter), result: "locked",
			body: message{"Too many failed login attempts. Try again later."}}
	case errors.As(err, &rl):
		return answer{status: http.StatusTooManyRequests, retryAfter: retryAfterSeconds(rl.retryAfter), result: "rate_limited",
			body: a.refusals.limitedBody, refusal: true}
	case errors.Is(err, auth.ErrOverloaded):
		return answer{status: http.StatusServiceUnavailable, retryAfter: retryAfterSeconds(a.overloadRetry), result: "overloaded",
			body: a.refusals.busyBody, refusal: true}
	case errors.Is(err, session.ErrRefreshReused): // the session is revoked; told like any bad token
		return answer{status: http.StatusUnauthorized, body: message{msgBadRefresh}, result: session.OutcomeReuseRevoked}
	case errors.Is(err, session.ErrRefreshExpired):
		return answer{status: http.StatusUnauthorized, body: message{msgBadRefresh}, result: session.OutcomeExpired}
	case errors.Is(err, session.ErrRefreshInvalid):
		return answer{status: http.StatusUnauthorized, body: message{msgBadRefresh}, result: session.OutcomeInvalid}
	// Forged, expired and revoked access tokens get one answer: which it was
	// is for the metrics, not for whoever holds the token.
	case errors.Is(err, tokens.ErrExpired):
		return answer{status: http.StatusUnauthorized, body: message{msgBadAccess}, challenge: true, result: "expired"}
	case errors.Is(err, tokens.ErrInvalid):
		return answer{status: http.StatusUnauthorized, body: message{msgBadAccess}, challenge: true, result: "invalid"}
	case errors.Is(err, revocation.ErrRevoked):
		return answer{status: http.StatusUnauthorized, body: message{msgBadAccess}, challenge: true, result: "revoked"}
	case errors.Is(err, revocation.ErrUnverifiable):
		// Stale feed and no database: never a 200, and not the client's
		// fault either. Before ErrUnavailable, which it may wrap.
		return answer{status: http.StatusServiceUnavailable, retryAfter: retryAfterSeconds(unavailableRetry), result: "unavailable",
			body:   message{"The service is temporarily unavailable. Try again shortly."},
			logMsg: "cannot vouch for a session: revocation feed stale and database unavailable", logLevel: slog.LevelWarn}
	case errors.Is(err, session.ErrNotFound):
		return answer{status: http.StatusNotFound, body: message{"Session not found."}, result: "not_found"}
	case errors.Is(err, session.ErrUnknownScope):
		return answer{status: http.StatusBadRequest, body: map[string][]string{"scope": {`Must be "this", "others" or "all".`}}, result: "invalid"}
	case errors.Is(err, errAdminToken):
		return answer{status: http.StatusUnauthorized, body: message{"Missing or invalid admin token."}, challenge: true, result: "unauthorized"}
	case errors.Is(err, auth.ErrNotFound):
		return answer{status: http.StatusNotFound, body: message{"User not found."}, result: "not_found"}
	case errors.Is(err, admin.ErrAlreadyVerified):
		return answer{status: http.StatusConflict, body: message{"User already verified."}, result: "refused"}
	case errors.Is(err, auth.ErrUnavailable):
		// Logged: an operator wants to know, though the client is told to retry.
		return answer{status: http.StatusServiceUnavailable, retryAfter: retryAfterSeconds(unavailableRetry), result: "error",
			body:   message{"The service is temporarily unavailable. Try again shortly."},
			logMsg: "database unavailable", logLevel: slog.LevelWarn}
	}
	return answer{status: http.StatusInternalServerError, body: internalError, result: "error",
		logMsg: "request failed", logLevel: slog.LevelError}
}

// clientClosed is the answer to a request that failed because its client
// went away (the request's context is cancelled): 499, counted and logged
// as such, never as a server error. Nobody reads the body.
var clientClosed = answer{status: clientClosedRequest, body: message{"Client closed request."}, result: "client_closed"}

// fail answers err and returns the label to count it under. The log line
// carries the request id, and the trace id from the context.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) string {
	ans := a.answerFor(err)
	if ans.status >= http.StatusInternalServerError && r.Context().Err() != nil {
		ans = clientClosed
	}
	if ans.refusal {
		quiet(r.Context())
		a.refusals.count(r.Context(), ans.result)
		a.refusals.wait(r.Context())
	}
	if ans.logMsg != "" {
		a.log.Log(r.Context(), ans.logLevel, ans.logMsg, "request_id", requestID(r.Context()), "error", err)
	}
	if ans.challenge {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	if ans.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ans.retryAfter))
	}
	writeJSON(w, ans.status, ans.body)
	return ans.result
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if b, ok := v.(rendered); ok {
		_, _ = w.Write(b)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}
