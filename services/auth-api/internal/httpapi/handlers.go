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
}

// Success messages, word for word the seed's where the seed had them.
const (
	msgSignup         = "Signup successful. Verify email."
	msgVerified       = "Email verified"
	msgAlreadyVerfied = "Email already verified"
	msgLogin          = "Login successful"
	msgResend         = "If the account exists and is unverified, a new verification email is on its way."
)

type signupRequest struct {
	Username *string `json:"username"`
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

func (a *api) handleSignup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req signupRequest
		err := decode(w, r, &req)
		var in auth.Signup
		if err == nil {
			in, err = a.policy.ValidateSignup(auth.SignupInput{Username: req.Username, Email: req.Email, Password: req.Password})
		}
		var res auth.SignupResult
		if err == nil {
			res, err = a.auth.Signup(r.Context(), in)
		}
		if err != nil {
			a.metrics.signups.inc(result(err))
			a.error(w, r, err)
			return
		}
		// An existing address gets the same answer: no account enumeration.
		if res.Duplicate {
			a.metrics.signups.inc("duplicate")
		} else {
			a.metrics.signups.inc("ok")
		}
		writeJSON(w, http.StatusOK, message{msgSignup})
	})
}

type loginRequest struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

type loginResponse struct {
	Message string `json:"message"`
	AuthID  string `json:"auth_id"`
}

func (a *api) handleLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req loginRequest
		err := decode(w, r, &req)
		var in auth.Login
		if err == nil {
			in, err = a.policy.ValidateLogin(auth.LoginInput{Email: req.Email, Password: req.Password})
		}
		var uid string
		if err == nil {
			uid, err = a.auth.Login(r.Context(), in)
		}
		a.metrics.logins.inc(result(err))
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, loginResponse{Message: msgLogin, AuthID: uid})
	})
}

func (a *api) handleVerify() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := a.auth.Verify(r.Context(), mux.Vars(r)["token"])
		switch {
		case err == nil && res == auth.AlreadyVerified:
			a.metrics.verifications.inc("already_verified")
		default:
			a.metrics.verifications.inc(result(err))
		}
		if a.redirectURL != nil && acceptsHTML(r) {
			status := "invalid"
			switch {
			case err == nil && res == auth.AlreadyVerified:
				status = "already_verified"
			case err == nil:
				status = "verified"
			case result(err) == "error":
				a.error(w, r, err) // an outage is not an invalid link
				return
			}
			u := *a.redirectURL
			q := u.Query()
			q.Set("status", status)
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		switch {
		case err != nil:
			a.error(w, r, err)
		case res == auth.AlreadyVerified:
			writeJSON(w, http.StatusOK, message{msgAlreadyVerfied})
		default:
			writeJSON(w, http.StatusOK, message{msgVerified})
		}
	})
}

type resendRequest struct {
	Email *string `json:"email"`
}

func (a *api) handleResend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req resendRequest
		err := decode(w, r, &req)
		var email string
		if err == nil {
			email, err = a.policy.ValidateEmail(req.Email)
		}
		if err == nil {
			err = a.auth.Resend(r.Context(), email)
		}
		a.metrics.resends.inc(result(err))
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, message{msgResend})
	})
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
