// Package admin is what operators do to accounts: find, inspect, verify,
// resend a link, disable, enable, unlock, sign out and delete. The admin
// API (internal/httpapi) and the CLI (auth-api admin) both call Service, so
// the two cannot drift; every action is written to the audit trail.
package admin

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
)

// User is an account as an operator sees it (never its password hash).
type User struct {
	UID        string     `json:"uid"`
	Username   string     `json:"username"`
	Email      string     `json:"email"`
	CreatedAt  time.Time  `json:"created_at"`
	VerifiedAt *time.Time `json:"verified_at"`
	DisabledAt *time.Time `json:"disabled_at"`
	Status     string     `json:"status"` // filled in by Service
}

// status is the one-word state of an account.
func (u User) status() string {
	switch {
	case u.DisabledAt != nil:
		return StatusDisabled
	case u.VerifiedAt != nil:
		return StatusVerified
	}
	return StatusUnverified
}

// The statuses a list can be filtered by.
const (
	StatusUnverified = "unverified"
	StatusVerified   = "verified"
	StatusDisabled   = "disabled"
)

// Lockout is an account's login lockout state.
type Lockout struct {
	// AccountFailures counts consecutive failures from untrusted sources
	// (at LOGIN_ACCOUNT_MAX_FAILURES only known devices may log in).
	AccountFailures int            `json:"account_failures"`
	Sources         []LockedSource `json:"sources"`
}

// LockedSource is one source (a network prefix or a device) with failures.
type LockedSource struct {
	Source      string     `json:"source"`
	Failures    int        `json:"failures"`
	LockedUntil *time.Time `json:"locked_until"`
}

// Detail is everything the show action tells.
type Detail struct {
	User
	Lockout  Lockout           `json:"lockout"`
	Sessions []Session         `json:"sessions"`
	Audit    []auth.AuditEntry `json:"recent_audit"`
}

// Session is a live session as show lists it.
type Session struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip,omitempty"`
}

// Filter selects a page of users: Query is an email prefix or an exact uid.
type Filter struct {
	Query  string
	Status string
	After  *Cursor
	Limit  int
}

// Cursor is the position after the last user of a page: users are listed
// in signup order, uid breaking ties, so pages are stable under inserts.
type Cursor struct {
	CreatedAt time.Time
	UID       string
}

// String is the opaque form clients pass back.
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.UID))
}

// ParseCursor reads a cursor's opaque form.
func ParseCursor(s string) (*Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if us, uid, ok := strings.Cut(string(raw), "."); ok {
			if n, err := strconv.ParseInt(us, 10, 64); err == nil && uid != "" {
				return &Cursor{CreatedAt: time.UnixMicro(n).UTC(), UID: uid}, nil
			}
		}
	}
	return nil, invalid("cursor", "Not a cursor from a previous page.")
}

// Page is one page of users and the cursor of the next (empty at the end).
type Page struct {
	Users []User `json:"users"`
	Next  string `json:"next_cursor,omitempty"`
}

// AuditFilter selects audit rows: of one uid, one action, since a time,
// before a row id (the next page), at most Limit.
type AuditFilter struct {
	UID    string
	Action string
	Since  time.Time
	Before int64
	Limit  int
}

// Limits of one page.
const (
	DefaultLimit = 50
	MaxLimit     = 500
	// recentAudit is how many audit rows show includes.
	recentAudit = 20
)

// ErrAlreadyVerified refuses resending a link to a verified account.
var ErrAlreadyVerified = errors.New("already verified")

// Store is the persistence admin needs (internal/postgres). The changing
// methods write their audit rows in the transaction of the change, with
// the actor of ctx (auth.WithActor); they return auth.ErrNotFound for an
// unknown uid.
type Store interface {
	SearchUsers(ctx context.Context, f Filter) ([]User, error)
	User(ctx context.Context, uid string) (User, error)
	Lockout(ctx context.Context, uid string) (Lockout, error)
	ListSessions(ctx context.Context, uid string) ([]session.Session, error)
	Audit(ctx context.Context, f AuditFilter) ([]auth.AuditEntry, error)
	WriteAudit(ctx context.Context, e auth.AuditEntry) error
	MarkVerified(ctx context.Context, uid string) error
	// SetDisabled disables (revoking every session, returned to apply) or
	// enables uid.
	SetDisabled(ctx context.Context, uid string, disabled bool) (events.Revocation, error)
	ClearLockout(ctx context.Context, uid string) error
	// SignOut revokes every session of uid.
	SignOut(ctx context.Context, uid string) (events.Revocation, error)
}

// Accounts is the account rules shared with self-service (auth.Service):
// a deletion takes the self-service path (sessions revoked, user.deleted,
// the Agent told), a resend the public resend's.
type Accounts interface {
	RemoveAccount(ctx context.Context, uid string) error
	Resend(ctx context.Context, email string) error
}

// Service applies operators' actions.
type Service struct {
	store    Store
	accounts Accounts
	// applied, when set, applies a revocation to this replica's deny-list
	// at once (the others hear it from the SESSIONS stream).
	applied func(events.Revocation)
	log     *slog.Logger
	actions *prometheus.CounterVec
}

// Options configure a Service.
type Options struct {
	Applied    func(events.Revocation)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Actions, the action label of kairos_admin_actions_total.
const (
	ActionList     = "list"
	ActionShow     = "show"
	ActionAudit    = "audit"
	ActionVerify   = "verify"
	ActionResend   = "resend_verification"
	ActionDisable  = "disable"
	ActionEnable   = "enable"
	ActionUnlock   = "unlock"
	ActionSignOut  = "sign_out"
	ActionDelete   = "delete"
	actionOutcomes = "ok|not_found|refused|invalid|error"
)

// New returns a Service.
func New(store Store, accounts Accounts, o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{store: store, accounts: accounts, applied: o.Applied, log: o.Logger,
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_admin_actions_total",
			Help: "Admin API actions by action and outcome (ok, not_found, refused, invalid, error).",
		}, []string{"action", "outcome"})}
	for _, a := range []string{ActionList, ActionShow, ActionAudit, ActionVerify, ActionResend, ActionDisable,
		ActionEnable, ActionUnlock, ActionSignOut, ActionDelete} {
		for _, o := range strings.Split(actionOutcomes, "|") {
			s.actions.WithLabelValues(a, o)
		}
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.actions); err != nil {
			return nil, fmt.Errorf("admin metrics: %w", err)
		}
	}
	return s, nil
}

// invalid is a field error, answered 400 like the public API's.
func invalid(field, msg string) error {
	return &auth.ValidationError{Fields: map[string][]string{field: {msg}}}
}
