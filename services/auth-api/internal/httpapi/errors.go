package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// Errors of the HTTP layer itself.
var (
	errMalformed        = errors.New("malformed JSON")
	errTooLarge         = errors.New("request body too large")
	errUnsupportedMedia = errors.New("unsupported media type")
	errNotFound         = errors.New("not found")
	errMethod           = errors.New("method not allowed")
)

// rateLimitedError: the client IP has no tokens left.
type rateLimitedError struct{ retryAfter time.Duration }

func (e *rateLimitedError) Error() string { return "rate limited" }

// unavailableRetry is the Retry-After of a 503 while the database is away:
// a restarting PostgreSQL is usually back within seconds.
const unavailableRetry = 2 * time.Second

type message struct {
	Message string `json:"message"`
}

// writeError is the one place where errors become responses. Anything it
// does not know is a 500 with a generic body, logged once with the request
// id (and trace id, from the context).
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, overloadRetry time.Duration, err error) {
	var (
		ve     *auth.ValidationError
		locked *auth.LockedError
		rl     *rateLimitedError
		bad    *badBodyError
	)
	switch {
	case errors.As(err, &ve):
		writeJSON(w, http.StatusBadRequest, ve.Fields)
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, message{bad.msg})
	case errors.Is(err, errMalformed):
		writeJSON(w, http.StatusBadRequest, message{"Malformed JSON."})
	case errors.Is(err, errTooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, message{"Request body too large (limit 64 KiB)."})
	case errors.Is(err, errUnsupportedMedia):
		writeJSON(w, http.StatusUnsupportedMediaType, message{"Unsupported media type; send application/json."})
	case errors.Is(err, errNotFound):
		writeJSON(w, http.StatusNotFound, message{"Not found."})
	case errors.Is(err, errMethod):
		writeJSON(w, http.StatusMethodNotAllowed, message{"Method \"" + r.Method + "\" not allowed."})
	case errors.Is(err, auth.ErrInvalidCredentials):
		writeJSON(w, http.StatusUnauthorized, message{"Invalid credentials"})
	case errors.Is(err, auth.ErrNotVerified):
		writeJSON(w, http.StatusForbidden, message{"Please verify your email first"})
	case errors.Is(err, auth.ErrTokenInvalid):
		writeJSON(w, http.StatusBadRequest, message{"Invalid token"})
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(locked.RetryAfter)))
		writeJSON(w, http.StatusTooManyRequests, message{"Too many failed login attempts. Try again later."})
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(rl.retryAfter)))
		writeJSON(w, http.StatusTooManyRequests, message{"Too many requests. Try again later."})
	case errors.Is(err, auth.ErrOverloaded):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(overloadRetry)))
		writeJSON(w, http.StatusServiceUnavailable, message{"The service is busy. Try again shortly."})
	case errors.Is(err, auth.ErrUnavailable):
		// Logged: an operator wants to know, though the client is told to retry.
		log.WarnContext(r.Context(), "database unavailable", "request_id", requestID(r.Context()), "error", err)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(unavailableRetry)))
		writeJSON(w, http.StatusServiceUnavailable, message{"The service is temporarily unavailable. Try again shortly."})
	default:
		log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()), "error", err)
		writeJSON(w, http.StatusInternalServerError, message{"Internal server error."})
	}
}

// result names err for the per-endpoint counters.
func result(err error) string {
	var (
		ve     *auth.ValidationError
		locked *auth.LockedError
		rl     *rateLimitedError
	)
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ve), errors.Is(err, errMalformed), errors.Is(err, errTooLarge), errors.Is(err, errUnsupportedMedia):
		return "invalid"
	case errors.As(err, &rl):
		return "rate_limited"
	case errors.As(err, &locked):
		return "locked"
	case errors.Is(err, auth.ErrOverloaded):
		return "overloaded"
	case errors.Is(err, auth.ErrInvalidCredentials):
		return "invalid_credentials"
	case errors.Is(err, auth.ErrNotVerified):
		return "unverified"
	case errors.Is(err, auth.ErrTokenExpired):
		return "expired"
	case errors.Is(err, auth.ErrTokenInvalid):
		return "invalid"
	}
	return "error"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
