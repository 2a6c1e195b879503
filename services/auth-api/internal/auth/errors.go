package auth

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. httpapi maps each to one response, in one place.
var (
	// ErrInvalidCredentials: unknown email or wrong password; deliberately one
	// error so that nothing tells the two apart.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrNotVerified: the right password for an account whose email is not
	// verified yet.
	ErrNotVerified = errors.New("email not verified")
	// ErrTokenInvalid: a verification token that is unknown, expired, revoked
	// by a newer one, or malformed.
	ErrTokenInvalid = errors.New("invalid verification token")
	// ErrOverloaded: no password-hashing slot became free in time.
	ErrOverloaded = errors.New("password hashing overloaded")
	// ErrDuplicateEmail is returned by a Store when an account with the same
	// (case-insensitive) email exists.
	ErrDuplicateEmail = errors.New("duplicate email")
	// ErrNotFound is returned by a Store when no account has the email.
	ErrNotFound = errors.New("not found")
	// ErrOverBudget is returned by a Store when an email's recipient has
	// used the hour's mail budget; nothing was written.
	ErrOverBudget = errors.New("mail budget exceeded")
	// ErrUnavailable is wrapped by a Store around errors that mean the
	// database cannot be reached right now (refused, lost, restarting): the
	// request failed through no fault of its own and may be retried.
	ErrUnavailable = errors.New("database unavailable")
)

// ValidationError lists what is wrong with a request, field by field, in the
// shape the seed (Django REST framework) used: field → messages.
type ValidationError struct {
	Fields map[string][]string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("validation failed on %d field(s)", len(e.Fields))
}

func (e *ValidationError) add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string][]string{}
	}
	e.Fields[field] = append(e.Fields[field], msg)
}

func (e *ValidationError) orNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// LockedError: too many consecutive failed logins for this email from this
// source; attempts from it are refused until RetryAfter has passed. Account
// means the account-wide ceiling instead: untrusted sources are refused until
// a password reset or a login from a known device.
type LockedError struct {
	RetryAfter time.Duration
	Account    bool
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("login locked for %s", e.RetryAfter)
}
