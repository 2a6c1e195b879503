package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// Routes of the authenticated account changes and the email confirmation.
const (
	routePasswordChange = "/api/password/change/"
	routeEmailChange    = "/api/email/change/"
	routeEmailConfirm   = "/api/email/confirm/{token}/"
)

// Success messages of the account changes.
const (
	msgPasswordChanged = "Password changed."
	msgEmailChange     = "Check the new address for a confirmation link."
	msgEmailChanged    = "Email address changed"
)

// EmailConfirmURL returns the builder of email change confirmation links
// under publicURL, like VerifyURL.
func EmailConfirmURL(publicURL string) func(token string) string {
	base := strings.TrimRight(publicURL, "/")
	return func(token string) string {
		return base + strings.Replace(routeEmailConfirm, "{token}", url.PathEscape(token), 1)
	}
}

type passwordChangeRequest struct {
	CurrentPassword *string `json:"current_password"`
	NewPassword     *string `json:"new_password"`
}

func (a *api) handlePasswordChange(w http.ResponseWriter, r *http.Request) (string, error) {
	c, _, err := a.authenticate(r)
	if err != nil {
		return "", err
	}
	var req passwordChangeRequest
	if err := decode(w, r, &req); err != nil {
		return "", err
	}
	in, err := a.policy.ValidatePasswordChange(auth.PasswordChangeInput{Current: req.CurrentPassword, New: req.NewPassword})
	if err != nil {
		return "", err
	}
	if err := a.auth.ChangePassword(r.Context(), c.UID, c.SessionID, a.loginSource(r, auth.Login{Password: in.Current}), in.New); err != nil {
		return "", err
	}
	writeJSON(w, http.StatusOK, message{msgPasswordChanged})
	return "ok", nil
}

type emailChangeRequest struct {
	Password *string `json:"password"`
	NewEmail *string `json:"new_email"`
}

func (a *api) handleEmailChange(w http.ResponseWriter, r *http.Request) (string, error) {
	c, _, err := a.authenticate(r)
	if err != nil {
		return "", err
	}
	var req emailChangeRequest
	if err := decode(w, r, &req); err != nil {
		return "", err
	}
	in, err := a.policy.ValidateEmailChange(auth.EmailChangeInput{Password: req.Password, NewEmail: req.NewEmail})
	if err != nil {
		return "", err
	}
	if err := a.auth.RequestEmailChange(r.Context(), c.UID, a.loginSource(r, auth.Login{Password: in.Password}), in.NewEmail); err != nil {
		return "", err
	}
	writeJSON(w, http.StatusOK, message{msgEmailChange})
	return "ok", nil
}

// handleEmailConfirm applies an email change link: JSON, the redirect of
// VERIFY_REDIRECT_URL (?status=email_changed|invalid), or a page.
func (a *api) handleEmailConfirm(w http.ResponseWriter, r *http.Request) (string, error) {
	err := a.auth.ConfirmEmail(r.Context(), mux.Vars(r)["token"])
	if acceptsHTML(r) && (err == nil || a.answerFor(err).status < http.StatusInternalServerError) {
		result, status := "ok", "email_changed"
		if err != nil {
			result, status = a.answerFor(err).result, "invalid"
		}
		if a.redirectURL != nil {
			a.redirectStatus(w, r, status)
			return result, nil
		}
		if err != nil {
			return result, a.outcomePage(w, "Email change", http.StatusBadRequest,
				"This confirmation link is not valid: it has expired, was used already, or the address is taken.", "")
		}
		return result, a.outcomePage(w, "Email change", http.StatusOK, msgEmailChanged+".", "Log in with your new address from now on.")
	}
	if err != nil {
		return "", err
	}
	writeJSON(w, http.StatusOK, message{msgEmailChanged})
	return "ok", nil
}

type deleteRequest struct {
	Password *string `json:"password"`
}

func (a *api) handleDeleteMe(w http.ResponseWriter, r *http.Request) (string, error) {
	c, _, err := a.authenticate(r)
	if err != nil {
		return "", err
	}
	var req deleteRequest
	if err := decode(w, r, &req); err != nil {
		return "", err
	}
	pw, err := a.policy.ValidatePresent("password", req.Password)
	if err != nil {
		return "", err
	}
	if err := a.auth.DeleteAccount(r.Context(), c.UID, a.loginSource(r, auth.Login{Password: pw})); err != nil {
		return "", err
	}
	w.WriteHeader(http.StatusNoContent)
	return "ok", nil
}
