// Package events is the contract between auth-api (the producer, through its
// outbox) and the notifier (the consumer): stream, subjects and payloads.
//
// Compatibility rule: fields may be added to an event, never removed or given a
// new meaning. A change that breaks that rule is a new Version, and consumers
// dead-letter versions they do not know rather than guess.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the payload version this package writes and understands.
const Version = 1

// Subjects of the USERS stream. An event's Type is always its subject.
const (
	// UserCreated: a new account; the owner must verify the address.
	UserCreated = "user.created"
	// VerificationRequested: a fresh verification link for an unverified
	// account (resend, or a repeated signup of an unverified address).
	VerificationRequested = "user.verification_requested"
	// SignupDuplicate: somebody signed up with the address of a verified
	// account; the owner is told by email instead of the caller by the API.
	SignupDuplicate = "user.signup_duplicate"
	// PasswordResetRequested: a reset link for an existing account (forgot
	// password); carries ResetURL and ResetExpiresAt.
	PasswordResetRequested = "user.password_reset_requested"
	// PasswordChanged: the password was reset or changed; the owner gets a
	// notice in case it was not them.
	PasswordChanged = "user.password_changed"
	// EmailChangeRequested: the owner asked to move the account to NewEmail;
	// a ConfirmURL goes to NewEmail, a notice to User.Email (the old one).
	EmailChangeRequested = "user.email_change_requested"
	// EmailChanged: the account's address is now User.Email (PreviousEmail
	// was the old one); the Agent is told.
	EmailChanged = "user.email_changed"
	// UserDeleted: the account and everything keyed by it are gone; User is
	// what it was, for the goodbye email and the Agent.
	UserDeleted = "user.deleted"
	// LoginAttackSuspected: the account reached the account-wide ceiling of
	// failed logins from untrusted sources; the owner is told once, and that
	// their known devices still work.
	LoginAttackSuspected = "user.login_attack_suspected"
)

// Types lists every subject the stream carries, in a stable order, so that
// consumers and metrics can enumerate them.
var Types = []string{UserCreated, VerificationRequested, SignupDuplicate, LoginAttackSuspected,
	PasswordResetRequested, PasswordChanged, EmailChangeRequested, EmailChanged, UserDeleted}

// User is the account an event is about.
type User struct {
	UID      string `json:"uid"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// Event is the JSON payload of every message on the USERS stream.
type Event struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Version    int       `json:"version"`
	OccurredAt time.Time `json:"occurred_at"`
	User       User      `json:"user"`
	// VerifyURL and VerifyExpiresAt are set where a verification link applies
	// (user.created and user.verification_requested).
	VerifyURL       string     `json:"verify_url,omitempty"`
	VerifyExpiresAt *time.Time `json:"verify_expires_at,omitempty"`
	// ResetURL and ResetExpiresAt: user.password_reset_requested.
	ResetURL       string     `json:"reset_url,omitempty"`
	ResetExpiresAt *time.Time `json:"reset_expires_at,omitempty"`
	// NewEmail, ConfirmURL and ConfirmExpiresAt: user.email_change_requested.
	NewEmail         string     `json:"new_email,omitempty"`
	ConfirmURL       string     `json:"confirm_url,omitempty"`
	ConfirmExpiresAt *time.Time `json:"confirm_expires_at,omitempty"`
	// PreviousEmail: user.email_changed.
	PreviousEmail string `json:"previous_email,omitempty"`
}

// Subject is the NATS subject the event is published on.
func (e Event) Subject() string { return e.Type }

// Errors returned by Decode; consumers dead-letter all three.
var (
	ErrMalformed      = errors.New("events: malformed payload")
	ErrUnknownVersion = errors.New("events: unknown version")
	ErrUnknownType    = errors.New("events: unknown type")
)

// Encode returns the wire form of e.
func Encode(e Event) ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// Decode parses and validates a payload. Unknown fields are ignored (producers
// may add fields); a missing id, type or uid, an unknown type or a version
// other than Version is an error wrapping one of the Err values above.
func Decode(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := e.validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

func (e Event) validate() error {
	if e.Version != Version {
		return fmt.Errorf("%w: %d", ErrUnknownVersion, e.Version)
	}
	if !known(e.Type) {
		return fmt.Errorf("%w: %q", ErrUnknownType, e.Type)
	}
	switch {
	case e.ID == "":
		return fmt.Errorf("%w: missing id", ErrMalformed)
	case e.User.UID == "":
		return fmt.Errorf("%w: missing user.uid", ErrMalformed)
	case e.User.Email == "":
		return fmt.Errorf("%w: missing user.email", ErrMalformed)
	}
	switch e.Type {
	case UserCreated, VerificationRequested:
		if e.VerifyURL == "" {
			return fmt.Errorf("%w: %s without verify_url", ErrMalformed, e.Type)
		}
	case PasswordResetRequested:
		if e.ResetURL == "" {
			return fmt.Errorf("%w: %s without reset_url", ErrMalformed, e.Type)
		}
	case EmailChangeRequested:
		if e.ConfirmURL == "" || e.NewEmail == "" {
			return fmt.Errorf("%w: %s without confirm_url or new_email", ErrMalformed, e.Type)
		}
	}
	return nil
}

func known(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}
