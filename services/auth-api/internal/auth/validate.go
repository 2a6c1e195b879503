package auth

import (
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth/passwords"
)

// Limits of the input rules.
const (
	MaxUsernameLength = 100
	MaxEmailLength    = 254
	MaxPasswordLength = 256
)

// Messages in the seed's (Django REST framework's) wording, so the frontend
// shows what it showed before.
const (
	msgRequired     = "This field is required."
	msgBlank        = "This field may not be blank."
	msgInvalidEmail = "Enter a valid email address."
	msgCommon       = "This password is too common."
	msgControl      = "This field may not contain control characters."
	msgNull         = "Null characters are not allowed." // DRF's wording
	msgReplacement  = "This field may not contain the character U+FFFD."
)

func msgMax(n int) string {
	return "Ensure this field has no more than " + strconv.Itoa(n) + " characters."
}

func msgMin(n int) string {
	return "Ensure this field has at least " + strconv.Itoa(n) + " characters."
}

// Policy holds the input rules that depend on configuration.
type Policy struct {
	MinPasswordLength int
	Common            *passwords.List
}

// SignupInput is a decoded signup request; nil means the field was absent.
type SignupInput struct {
	Username, Email, Password *string
}

// Signup is a validated signup request.
type Signup struct {
	Username string // trimmed
	Email    string // trimmed, letter case as given
	Password string // exactly as given
}

// ValidateSignup checks a signup request against every rule and reports all
// failing fields at once.
func (p Policy) ValidateSignup(in SignupInput) (Signup, error) {
	var ve ValidationError
	var s Signup
	if u, ok := required(&ve, "username", in.Username); ok {
		s.Username = strings.TrimSpace(u)
		switch n := utf8.RuneCountInString(s.Username); {
		case n == 0:
			ve.add("username", msgBlank)
		case n > MaxUsernameLength:
			ve.add("username", msgMax(MaxUsernameLength))
		case strings.IndexFunc(s.Username, isLineControl) >= 0:
			// NUL breaks PostgreSQL text; the rest has no place in a name
			// shown in pages and mail (tabs included).
			ve.add("username", msgControl)
		}
	}
	if e, ok := required(&ve, "email", in.Email); ok {
		s.Email, _ = validEmail(&ve, e)
	}
	if pw, ok := required(&ve, "password", in.Password); ok {
		s.Password = pw
		p.checkPassword(&ve, "password", pw, s.Email, s.Username)
	}
	return s, ve.orNil()
}

// checkPassword applies the rules of a new password to pw, reporting under
// field; email and username, when known, must not be the password.
func (p Policy) checkPassword(ve *ValidationError, field, pw, email, username string) {
	n := utf8.RuneCountInString(pw)
	switch {
	case n == 0:
		ve.add(field, msgBlank)
	case n < p.MinPasswordLength:
		ve.add(field, msgMin(p.MinPasswordLength))
	case n > MaxPasswordLength:
		ve.add(field, msgMax(MaxPasswordLength))
	case strings.IndexFunc(pw, unicode.IsControl) >= 0:
		// Never typed into a form, and NUL truncates the password in
		// other systems' C strings.
		ve.add(field, msgControl)
	case strings.ContainsRune(pw, utf8.RuneError):
		// JSON's lone-surrogate escapes (\ud800) decode to U+FFFD, so
		// different passwords would hash alike.
		ve.add(field, msgReplacement)
	case p.Common != nil && p.Common.Contains(pw):
		ve.add(field, msgCommon)
	case email != "" && strings.EqualFold(pw, email):
		ve.add(field, "The password is too similar to the email.")
	case username != "" && strings.EqualFold(pw, username):
		ve.add(field, "The password is too similar to the username.")
	}
}

// ResetInput is a decoded password reset request.
type ResetInput struct {
	Token, Password *string
}

// Reset is a validated password reset request.
type Reset struct {
	Token    string
	Password string
}

// ValidateReset checks a reset request: a token is present, and the new
// password follows the signup rules (the account is not known yet, so the
// similarity rules wait for a password change).
func (p Policy) ValidateReset(in ResetInput) (Reset, error) {
	var ve ValidationError
	var r Reset
	r.Token, _ = required(&ve, "token", in.Token)
	if pw, ok := required(&ve, "password", in.Password); ok {
		r.Password = pw
		p.checkPassword(&ve, "password", pw, "", "")
	}
	return r, ve.orNil()
}

// LoginInput is a decoded login request.
type LoginInput struct {
	Email, Password *string
}

// Login is a validated login request, with where it comes from (set by the
// HTTP layer): the client address and the device its cookie claims, if any.
type Login struct {
	Email    string
	Password string
	ClientIP netip.Addr
	Device   Device
}

// ValidateLogin checks only the shape of a login request: the length and
// list rules are for new passwords, and applying them here would let a
// caller learn them without an account.
func (p Policy) ValidateLogin(in LoginInput) (Login, error) {
	var ve ValidationError
	var l Login
	if e, ok := required(&ve, "email", in.Email); ok {
		l.Email, _ = validEmail(&ve, e)
	}
	if pw, ok := required(&ve, "password", in.Password); ok {
		l.Password = pw
		switch n := utf8.RuneCountInString(pw); {
		case n == 0:
			ve.add("password", msgBlank)
		case n > MaxPasswordLength:
			ve.add("password", msgMax(MaxPasswordLength))
		case strings.IndexByte(pw, 0) >= 0:
			// Only NUL: no password was ever set with it (DRF refused it
			// too), while other controls may be in an old one.
			ve.add("password", msgNull)
		}
	}
	return l, ve.orNil()
}

// ValidateEmail checks the email of a resend request.
func (p Policy) ValidateEmail(email *string) (string, error) {
	var ve ValidationError
	var out string
	if e, ok := required(&ve, "email", email); ok {
		out, _ = validEmail(&ve, e)
	}
	return out, ve.orNil()
}

func required(ve *ValidationError, field string, v *string) (string, bool) {
	if v == nil {
		ve.add(field, msgRequired)
		return "", false
	}
	return *v, true
}

// present is required for a field that must also not be blank (a current
// password: its rules are checked by comparing it, not here).
func present(ve *ValidationError, field string, v *string) string {
	s, ok := required(ve, field, v)
	if ok && s == "" {
		ve.add(field, msgBlank)
	}
	return s
}

// validEmail trims s and accepts a bare address (no display name, no
// comments) that net/mail parses, of at most MaxEmailLength characters.
func validEmail(ve *ValidationError, s string) (string, bool) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		ve.add("email", msgBlank)
		return "", false
	case utf8.RuneCountInString(s) > MaxEmailLength:
		ve.add("email", msgMax(MaxEmailLength))
		return "", false
	case strings.IndexFunc(s, isLineControl) >= 0:
		ve.add("email", msgControl)
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		ve.add("email", msgInvalidEmail)
		return "", false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n") {
		ve.add("email", msgInvalidEmail)
		return "", false
	}
	return s, true
}

// isLineControl: a C0 or C1 control character (NUL, tab, CR, LF, ...) or
// a Unicode line or paragraph separator.
func isLineControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// NormalizeEmail is the form under which an email is unique and throttled:
// John@Example.com and john@example.com are one account.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// PasswordChangeInput is a decoded password change request.
type PasswordChangeInput struct {
	Current, New *string
}

// PasswordChange is a validated password change request.
type PasswordChange struct {
	Current, New string
}

// ValidatePasswordChange checks the shape of the current password and the
// rules of the new one.
func (p Policy) ValidatePasswordChange(in PasswordChangeInput) (PasswordChange, error) {
	var ve ValidationError
	var c PasswordChange
	c.Current = present(&ve, "current_password", in.Current)
	if pw, ok := required(&ve, "new_password", in.New); ok {
		c.New = pw
		p.checkPassword(&ve, "new_password", pw, "", "")
	}
	return c, ve.orNil()
}

// EmailChangeInput is a decoded email change request.
type EmailChangeInput struct {
	Password, NewEmail *string
}

// EmailChangeRequest is a validated email change request.
type EmailChangeRequest struct {
	Password, NewEmail string
}

// ValidateEmailChange checks an email change request.
func (p Policy) ValidateEmailChange(in EmailChangeInput) (EmailChangeRequest, error) {
	var ve ValidationError
	var c EmailChangeRequest
	c.Password = present(&ve, "password", in.Password)
	if e, ok := required(&ve, "new_email", in.NewEmail); ok {
		c.NewEmail, _ = validEmail(&ve, e)
	}
	return c, ve.orNil()
}

// ValidatePresent checks that a string field is present and not blank.
func (p Policy) ValidatePresent(field string, v *string) (string, error) {
	var ve ValidationError
	s := present(&ve, field, v)
	return s, ve.orNil()
}
