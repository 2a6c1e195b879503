package auth

import (
	"context"
	"time"
)

// Actions of the audit trail (the audit_log table). Security-relevant user
// events are written by the store in the transaction of the change; admin
// actions by internal/admin.
const (
	AuditLoginLocked     = "login.locked"
	AuditPasswordReset   = "password.reset"
	AuditPasswordChanged = "password.changed"
	AuditEmailChanged    = "email.changed"
	AuditSessionsRevoked = "sessions.revoked"
	AuditUserDeleted     = "user.deleted"
	AuditUserVerified    = "user.verified"
	AuditVerifyResent    = "verification.resent"
	AuditUserDisabled    = "user.disabled"
	AuditUserEnabled     = "user.enabled"
	AuditLoginUnlocked   = "login.unlocked"
)

// Audit outcomes: the change was made, or what stopped it.
const (
	OutcomeOK       = "ok"
	OutcomeNotFound = "not_found"
	OutcomeRefused  = "refused"
	OutcomeError    = "error"
)

// Actor is who a change is made by, as the audit trail records it: "self"
// (the signed-in user, or an anonymous caller of the public API), "system",
// "api:<token name>" or "cli:<name>"; and where the request came from.
type Actor struct {
	Name      string
	RequestID string
	ClientIP  string // empty when unknown
}

// ActorSystem is the actor of changes no request asked for.
const ActorSystem = "system"

type actorKey struct{}

// WithActor returns ctx carrying who its changes are made by; the store
// reads it when it writes an audit row, so no method needs a parameter
// for it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom is ctx's actor, ActorSystem when none was set.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.Name != "" {
		return a
	}
	return Actor{Name: ActorSystem}
}

// AuditEntry is one row of the audit trail. Detail never holds a secret,
// a password or a token.
type AuditEntry struct {
	ID        int64          `json:"id"`
	At        time.Time      `json:"at"`
	Actor     string         `json:"actor"`
	Action    string         `json:"action"`
	TargetUID string         `json:"target_uid,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	ClientIP  string         `json:"client_ip,omitempty"`
	Outcome   string         `json:"outcome"`
	Detail    map[string]any `json:"detail,omitempty"`
}
