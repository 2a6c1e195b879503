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
	// LoginAttackSuspected: the account reached the account-wide ceiling of
	// failed logins from untrusted sources; the owner is told once, and that
	// their known devices still work.
	LoginAttackSuspected = "user.login_attack_suspected"
)

// Types lists every subject the stream carries, in a stable order, so that
// consumers and metrics can enumerate them.
var Types = []string{UserCreated, VerificationRequested, SignupDuplicate, LoginAttackSuspected}

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
	case (e.Type == UserCreated || e.Type == VerificationRequested) && e.VerifyURL == "":
		return fmt.Errorf("%w: %s without verify_url", ErrMalformed, e.Type)
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
