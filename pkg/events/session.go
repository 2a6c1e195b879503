package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Session events travel on their own stream, not on USERS: the notifier has
// no business with them, every auth-api replica follows them from a replay
// point of ACCESS_TOKEN_TTL ago, and they are worthless once the last access
// token they cover has expired, so they are kept briefly.
const (
	SessionStreamName     = "SESSIONS"
	SessionStreamSubjects = "session.>"

	// SessionRevoked: sessions ended by logout, session deletion, refresh
	// token reuse, a password change or an administrator.
	SessionRevoked = "session.revoked"

	// SessionMaxAge bounds the stream. It must exceed the longest
	// ACCESS_TOKEN_TTL in use, since a starting replica replays that much.
	SessionMaxAge = 24 * time.Hour
)

// Revocation is the payload of session.revoked. It names sessions, or all of
// a user's sessions started at or before a time, or both.
type Revocation struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Version    int       `json:"version"`
	OccurredAt time.Time `json:"occurred_at"`
	UID        string    `json:"uid"`
	SessionIDs []string  `json:"session_ids,omitempty"`
	// Before, when set, revokes every session of UID started at or before it
	// (a password change, an administrator's action, logout everywhere).
	Before *time.Time `json:"before,omitempty"`
	// Reason is for logs and metrics: logout, deleted, refresh_reuse, ….
	Reason string `json:"reason"`
}

// Subject is the NATS subject the event is published on.
func (r Revocation) Subject() string { return r.Type }

// EncodeRevocation returns the wire form of r.
func EncodeRevocation(r Revocation) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// DecodeRevocation parses and validates a session.revoked payload; errors
// wrap the same Err values as Decode.
func DecodeRevocation(data []byte) (Revocation, error) {
	var r Revocation
	if err := json.Unmarshal(data, &r); err != nil {
		return Revocation{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := r.validate(); err != nil {
		return Revocation{}, err
	}
	return r, nil
}

func (r Revocation) validate() error {
	switch {
	case r.Version != Version:
		return fmt.Errorf("%w: %d", ErrUnknownVersion, r.Version)
	case r.Type != SessionRevoked:
		return fmt.Errorf("%w: %q", ErrUnknownType, r.Type)
	case r.ID == "":
		return fmt.Errorf("%w: missing id", ErrMalformed)
	case r.UID == "":
		return fmt.Errorf("%w: missing uid", ErrMalformed)
	case len(r.SessionIDs) == 0 && r.Before == nil:
		return fmt.Errorf("%w: %s names no session and no cut-off", ErrMalformed, r.Type)
	}
	return nil
}

// SessionStreamConfig is the SESSIONS stream definition.
func SessionStreamConfig(replicas int) jetstream.StreamConfig {
	return streamConfig(SessionStreamName, "Kairos session revocations (see pkg/events)", SessionStreamSubjects, replicas, SessionMaxAge)
}

// EnsureSessionStream creates the SESSIONS stream or updates it.
func EnsureSessionStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	return ensure(ctx, js, SessionStreamConfig(replicas))
}
