package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"slices"
	"sort"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// auth-api's own pages, for when no frontend URL is configured: the outcome
// of a verify or email-confirm link, and the password reset form. They load
// nothing from anywhere (one inline style, allowed by its hash), run no
// script, and may not be framed.
//
//go:embed pages/*.tmpl
var pageFS embed.FS

const pageCSS = `body{font-family:system-ui,sans-serif;line-height:1.5;margin:0;background:#f6f8fa;color:#1f2328}` +
	`main{max-width:28rem;margin:4rem auto;padding:2rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}` +
	`h1{font-size:1.4rem;margin-top:0}label{display:block;font-weight:600}` +
	`input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #8c959f;border-radius:4px}` +
	`button{padding:.6rem 1.2rem;font-size:1rem;background:#1f6feb;color:#fff;border:0;border-radius:4px;cursor:pointer}` +
	`[role=alert]{color:#a40e26;background:#ffebe9;border:1px solid #ff8182;border-radius:4px;padding:0 1rem}`

// pages renders the embedded templates with the security headers they need.
type pages struct {
	outcome, reset *template.Template
	csp            string
}

func newPages() (*pages, error) {
	parse := func(name string) (*template.Template, error) {
		t, err := template.ParseFS(pageFS, "pages/layout.html.tmpl", "pages/"+name)
		if err != nil {
			return nil, fmt.Errorf("page templates: %w", err)
		}
		return t.Option("missingkey=error"), nil
	}
	p := &pages{}
	var err error
	if p.outcome, err = parse("outcome.html.tmpl"); err != nil {
		return nil, err
	}
	if p.reset, err = parse("reset.html.tmpl"); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(pageCSS))
	p.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return p, nil
}

type pageData struct {
	Title, Message, Hint string
	// The reset form's.
	Action    string
	Token     string
	MinLength int
	Errors    []string
	CSS       template.CSS
}

// render writes the page with status code; rendering into a buffer first
// means a template failure is a 500, never half a page.
func (p *pages) render(w http.ResponseWriter, t *template.Template, code int, d pageData) error {
	d.CSS = template.CSS(pageCSS)
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", d); err != nil {
		return fmt.Errorf("render page: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, err := w.Write(b.Bytes())
	return err
}

// outcomePage answers a browser's link with a page instead of JSON: result
// and err as handled, title and words for the person.
func (a *api) outcomePage(w http.ResponseWriter, title string, code int, msg, hint string) error {
	return a.pages.render(w, a.pages.outcome, code, pageData{Title: title, Message: msg, Hint: hint})
}

// handleResetPage is the form a reset link opens when PASSWORD_RESET_URL is
// unset.
func (a *api) handleResetPage(w http.ResponseWriter, r *http.Request) (string, error) {
	token := r.URL.Query().Get("token")
	if _, err := auth.TokenHash(token); err != nil {
		return "invalid", a.outcomePage(w, "Reset your password", http.StatusBadRequest,
			"This password reset link is not valid.", "Ask for a new one with “Forgot password” on the login page.")
	}
	return "page", a.resetForm(w, http.StatusOK, token, nil)
}

func (a *api) resetForm(w http.ResponseWriter, code int, token string, errs []string) error {
	return a.pages.render(w, a.pages.reset, code, pageData{Title: "Choose a new password",
		Action: routeReset, Token: token, MinLength: a.policy.MinPasswordLength, Errors: errs})
}

// isForm: the reset page's form, posted without JavaScript.
func isForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// handleResetForm is POST /api/password/reset/ from the reset page: the same
// rules and the same errors as the JSON call, answered as pages.
func (a *api) handleResetForm(w http.ResponseWriter, r *http.Request) (string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return "", errMalformed
	}
	token, pw := r.PostForm.Get("token"), r.PostForm.Get("password")
	if pw != r.PostForm.Get("password2") {
		return "invalid", a.resetForm(w, http.StatusBadRequest, token, []string{"The two passwords differ."})
	}
	in, err := a.policy.ValidateReset(auth.ResetInput{Token: &token, Password: &pw})
	if err == nil {
		err = a.auth.ResetPassword(r.Context(), in.Token, in.Password)
	}
	var ve *auth.ValidationError
	switch {
	case errors.As(err, &ve):
		return "invalid", a.resetForm(w, http.StatusBadRequest, token, fieldMessages(ve))
	case errors.Is(err, auth.ErrTokenInvalid):
		return "invalid", a.outcomePage(w, "Reset your password", http.StatusBadRequest,
			"This password reset link is not valid: it has expired, was used already or was replaced by a newer one.",
			"Ask for a new one with “Forgot password” on the login page.")
	case err != nil:
		return "", err
	}
	return "ok", a.outcomePage(w, "Password changed", http.StatusOK, msgReset,
		"You were logged out everywhere else.")
}

// fieldMessages flattens a validation error for a page, in a stable order.
func fieldMessages(ve *auth.ValidationError) []string {
	fields := make([]string, 0, len(ve.Fields))
	for f := range ve.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var out []string
	for _, f := range fields {
		for _, m := range ve.Fields[f] {
			out = append(out, f+": "+m)
		}
	}
	return slices.Clip(out)
}

// verifiedPage is the outcome of a verify link opened in a browser when
// VERIFY_REDIRECT_URL is unset. An outage is answered as JSON like any
// error, not as an invalid link.
func (a *api) verifiedPage(w http.ResponseWriter, res auth.VerifyResult, err error) (string, error) {
	const title = "Email verification"
	switch {
	case err != nil:
		ans := a.answerFor(err)
		if ans.status >= http.StatusInternalServerError {
			return "", err
		}
		return ans.result, a.outcomePage(w, title, http.StatusBadRequest,
			"This verification link is not valid: it has expired or was replaced by a newer one.",
			"Log in to ask for a new link, or sign up again.")
	case res == auth.AlreadyVerified:
		return "already_verified", a.outcomePage(w, title, http.StatusOK, msgAlreadyVerfied+".", "You can log in.")
	}
	return "ok", a.outcomePage(w, title, http.StatusOK, msgVerified+".", "You can log in now.")
}
