package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// Routes of password recovery.
const (
	routeForgot    = "/api/password/forgot/"
	routeReset     = "/api/password/reset/"
	routeResetPage = "/reset-password/" // links leave the optional slash out
)

// Success messages of password recovery.
const (
	msgForgot = "If the account exists, a password reset email is on its way."
	msgReset  = "Password reset. You can now log in with your new password."
)

// ResetURL returns the builder of password reset links. With frontend set
// (PASSWORD_RESET_URL) the token goes in the fragment, which browsers never
// send to a server, so it stays out of every access log on the way. Without
// it, the link opens auth-api's own page, which must read the token
// server-side to work without JavaScript: it is in the query, which this
// service keeps out of its logs and spans, and the page sends no Referer.
func ResetURL(publicURL string, frontend *url.URL) func(token string) string {
	if frontend != nil {
		u := *frontend
		u.Fragment, u.RawFragment = "", ""
		base := u.String()
		return func(token string) string { return base + "#token=" + url.QueryEscape(token) }
	}
	base := strings.TrimRight(publicURL, "/") + strings.TrimSuffix(routeResetPage, "/") + "?token="
	return func(token string) string { return base + url.QueryEscape(token) }
}

type forgotRequest struct {
	Email *string `json:"email"`
}

func (a *api) handleForgot(w http.ResponseWriter, r *http.Request) (string, error) {
	var req forgotRequest
	if err := decode(w, r, &req); err != nil {
		return "", err
	}
	email, err := a.policy.ValidateEmail(req.Email)
	if err != nil {
		return "", err
	}
	if err := a.auth.Forgot(r.Context(), email); err != nil {
		return "", err
	}
	writeJSON(w, http.StatusOK, message{msgForgot})
	return "ok", nil
}

type resetRequest struct {
	Token    *string `json:"token"`
	Password *string `json:"password"`
}

func (a *api) handleReset(w http.ResponseWriter, r *http.Request) (string, error) {
	if isForm(r) {
		return a.handleResetForm(w, r)
	}
	var req resetRequest
	if err := decode(w, r, &req); err != nil {
		return "", err
	}
	in, err := a.policy.ValidateReset(auth.ResetInput{Token: req.Token, Password: req.Password})
	if err != nil {
		return "", err
	}
	if err := a.auth.ResetPassword(r.Context(), in.Token, in.Password); err != nil {
		return "", err
	}
	writeJSON(w, http.StatusOK, message{msgReset})
	return "ok", nil
}
