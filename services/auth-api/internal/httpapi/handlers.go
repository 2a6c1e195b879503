package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// Auth is what the handlers need from the rules (auth.Service).
type Auth interface {
	Signup(ctx context.Context, in auth.Signup) (auth.SignupResult, error)
	Login(ctx context.Context, in auth.Login) (string, error)
	Verify(ctx context.Context, token string) (auth.VerifyResult, error)
	Resend(ctx context.Context, email string) error
	Forgot(ctx context.Context, email string) error
	ResetPassword(ctx context.Context, token, password string) error
	ChangePassword(ctx context.Context, uid, sessionID string, current auth.Login, next string) error
	RequestEmailChange(ctx context.Context, uid string, password auth.Login, newEmail string) error
	ConfirmEmail(ctx context.Context, token string) error
	DeleteAccount(ctx context.Context, uid string, password auth.Login) error
}

// Success messages, word for word the seed's where the seed had them.
const (
	msgSignup         = "Signup successful. Verify email."
	msgVerified       = "Email verified"
	msgAlreadyVerfied = "Email already verified"
	msgLogin          = "Login successful"
	msgResend         = "If the account exists and is unverified, a new verification email is on its way."
)

// handler serves one endpoint. It writes the success response itself and
// returns the label to count it under; an error it returns is answered by
// answerFor and counted under that answer's label.
type handler func(w http.ResponseWriter, r *http.Request) (result string, err error)

// endpoint adapts a handler, once for every route: the per-IP limit first,
// before any other work (a refusal is cheap: refusal.go), then the handler,
// then the count of the outcome.
func (a *api) endpoint(counter results, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.limiter != nil {
			if ok, wait := a.limiter.Allow(a.clientIP.Of(r)); !ok {
				counter.inc(a.fail(w, r, &rateLimitedError{retryAfter: wait}))
				return
			}
		}
		// The audit rows of a user's own changes name "self" and where the
		// request came from.
		r = r.WithContext(auth.WithActor(r.Context(), auth.Actor{Name: "self", RequestID: requestID(r.Context()), ClientIP: a.clientIP.Of(r)}))
		result, err := h(w, r)
		if err != nil {
			result = a.fail(w, r, err)
		}
		counter.inc(result)
	})
}

type signupRequest struct {
	Username *string `json:"username"`
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

func (a *api) handleSignup(w http.ResponseWriter, r *http.Request) (string, error) {
	var req signupRequest
	typeErrs, err := decodeFields(w, r, &req)
	if err != nil {
		return "", err
	}
	in, err := a.policy.ValidateSignup(auth.SignupInput{Username: req.Username, Email: req.Email, Password: req.Password})
	if err := withTypeErrors(typeErrs, err); err != nil {
		return "", err
	}
	res, err := a.auth.Signup(r.Context(), in)
	if err != nil {
		return "", err
	}
	writeJSON(w, http.StatusOK, message{msgSignup})
	if res.Duplicate {
		return "duplicate", nil // answered like ok: no account enumeration
	}
	return "ok", nil
}

type loginRequest struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

type loginResponse struct {
	Message string `json:"message"`
	AuthID  string `json:"auth_id"`
	tokenResponse
}

func (a *api) handleLogin(w http.ResponseWriter, r *http.Request) (string, error) {
	var req loginRequest
	typeErrs, err := decodeFields(w, r, &req)
	if err != nil {
		return "", err
	}
	in, err := a.policy.ValidateLogin(auth.LoginInput{Email: req.Email, Password: req.Password})
	if err := withTypeErrors(typeErrs, err); err != nil {
		return "", err
	}
	in = a.loginSource(r, in)
	uid, err := a.auth.Login(r.Context(), in)
	if err != nil {
		return "", err
	}
	issued, err := a.startSession(r, uid)
	if err != nil {
		return "", err
	}
	a.devices.remember(w, uid, in.Device)
	writeJSON(w, http.StatusOK, loginResponse{Message: msgLogin, AuthID: uid, tokenResponse: issued})
	return "ok", nil
}

func (a *api) handleVerify(w http.ResponseWriter, r *http.Request) (string, error) {
	res, err := a.auth.Verify(r.Context(), mux.Vars(r)["token"])
	if a.redirectURL != nil && acceptsHTML(r) {
		return a.redirectVerified(w, r, res, err)
	}
	if acceptsHTML(r) { // and no frontend to send the browser to

		return a.verifiedPage(w, res, err)
	}
	switch {
	case err != nil:
		return "", err
	case res == auth.AlreadyVerified:
		writeJSON(w, http.StatusOK, message{msgAlreadyVerfied})
		return "already_verified", nil
	}
	writeJSON(w, http.StatusOK, message{msgVerified})
	return "ok", nil
}

// redirectVerified sends a browser to the frontend with the outcome of its
// verify link. An outage is not an invalid link: it is answered as an error.
func (a *api) redirectVerified(w http.ResponseWriter, r *http.Request, res auth.VerifyResult, err error) (string, error) {
	status, result := "verified", "ok"
	switch {
	case err != nil:
		ans := a.answerFor(err)
		if ans.status >= http.StatusInternalServerError {
			return "", err
		}
		status, result = "invalid", ans.result
	case res == auth.AlreadyVerified:
		status, result = "already_verified", "already_verified"
	}
	a.redirectStatus(w, r, status)
	return result, nil
}

// redirectStatus sends a browser to VERIFY_REDIRECT_URL with ?status=.
func (a *api) redirectStatus(w http.ResponseWriter, r *http.Request, status string) {
	u := *a.redirectURL
	q := u.Query()
	q.Set("status", status)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

type resendRequest struct {
	Email *string `json:"email"`
}

func (a *api) handleResend(w http.ResponseWriter, r *http.Request) (string, error) {
	var req resendRequest
	typeErrs, err := decodeFields(w, r, &req)
	if err != nil {
		return "", err
	}
	email, err := a.policy.ValidateEmail(req.Email)
	if err := withTypeErrors(typeErrs, err); err != nil {
		return "", err
	}
	if err := a.auth.Resend(r.Context(), email); err != nil {
		return "", err
	}
	writeJSON(w, http.StatusOK, message{msgResend})
	return "ok", nil
}

// acceptsHTML: a browser opening the emailed link (its Accept lists
// text/html), as opposed to the frontend's fetch or curl.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
				return true
			}
		}
	}
	return false
}
