package admin

import (
	"context"
	"errors"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// Every method takes ctx carrying the operator (auth.WithActor): the audit
// rows name them.

// List returns a page of users matching f.
func (s *Service) List(ctx context.Context, f Filter) (_ Page, err error) {
	defer s.count(ActionList, &err)
	switch f.Status {
	case "", StatusUnverified, StatusVerified, StatusDisabled:
	default:
		return Page{}, invalid("status", `Must be "unverified", "verified" or "disabled".`)
	}
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	if f.Limit < 1 || f.Limit > MaxLimit {
		return Page{}, invalid("limit", "Must be between 1 and 500.")
	}
	users, err := s.store.SearchUsers(ctx, Filter{Query: f.Query, Status: f.Status, After: f.After, Limit: f.Limit + 1})
	if err != nil {
		return Page{}, err
	}
	for i := range users {
		users[i].Status = users[i].status()
	}
	p := Page{Users: users}
	if len(users) > f.Limit {
		p.Users = users[:f.Limit]
		last := p.Users[f.Limit-1]
		p.Next = Cursor{CreatedAt: last.CreatedAt, UID: last.UID}.String()
	}
	return p, nil
}

// Show returns uid's profile, state, live sessions and recent audit rows.
func (s *Service) Show(ctx context.Context, uid string) (_ Detail, err error) {
	defer s.count(ActionShow, &err)
	u, err := s.store.User(ctx, uid)
	if err != nil {
		return Detail{}, err
	}
	u.Status = u.status()
	d := Detail{User: u, Sessions: []Session{}}
	if d.Lockout, err = s.store.Lockout(ctx, uid); err != nil {
		return Detail{}, err
	}
	live, err := s.store.ListSessions(ctx, uid)
	if err != nil {
		return Detail{}, err
	}
	for _, ss := range live {
		v := Session{ID: ss.ID, CreatedAt: ss.CreatedAt.UTC(), LastUsedAt: ss.LastUsedAt.UTC(), ExpiresAt: ss.ExpiresAt.UTC(), UserAgent: ss.UserAgent}
		if ss.ClientIP.IsValid() {
			v.IP = ss.ClientIP.String()
		}
		d.Sessions = append(d.Sessions, v)
	}
	d.Audit, err = s.store.Audit(ctx, AuditFilter{UID: uid, Limit: recentAudit})
	return d, err
}

// Audit reads the trail, newest first.
func (s *Service) Audit(ctx context.Context, f AuditFilter) (_ []auth.AuditEntry, err error) {
	defer s.count(ActionAudit, &err)
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	if f.Limit < 1 || f.Limit > MaxLimit {
		return nil, invalid("limit", "Must be between 1 and 500.")
	}
	return s.store.Audit(ctx, f)
}

// Verify marks uid's email verified (an operator checked it another way).
func (s *Service) Verify(ctx context.Context, uid string) error {
	return s.act(ctx, ActionVerify, auth.AuditUserVerified, uid, func() error { return s.store.MarkVerified(ctx, uid) })
}

// ResendVerification mails uid a new verification link, revoking older
// ones, within the address's mail budget like the public resend.
func (s *Service) ResendVerification(ctx context.Context, uid string) error {
	return s.act(ctx, ActionResend, auth.AuditVerifyResent, uid, func() error {
		u, err := s.store.User(ctx, uid)
		if err != nil {
			return err
		}
		if u.VerifiedAt != nil {
			return ErrAlreadyVerified
		}
		if err := s.accounts.Resend(ctx, u.Email); err != nil {
			return err
		}
		// The resend changes no row of its own to write the audit row with.
		return s.store.WriteAudit(ctx, auth.AuditEntry{Action: auth.AuditVerifyResent, TargetUID: uid})
	})
}

// Disable refuses uid's logins from now on (answered like a wrong
// password) and revokes every session of theirs at once.
func (s *Service) Disable(ctx context.Context, uid string) error {
	return s.act(ctx, ActionDisable, auth.AuditUserDisabled, uid, func() error {
		rev, err := s.store.SetDisabled(ctx, uid, true)
		s.apply(rev)
		return err
	})
}

// Enable lets uid log in again.
func (s *Service) Enable(ctx context.Context, uid string) error {
	return s.act(ctx, ActionEnable, auth.AuditUserEnabled, uid, func() error {
		_, err := s.store.SetDisabled(ctx, uid, false)
		return err
	})
}

// Unlock clears uid's login lockout: every source and the account-wide
// count.
func (s *Service) Unlock(ctx context.Context, uid string) error {
	return s.act(ctx, ActionUnlock, auth.AuditLoginUnlocked, uid, func() error { return s.store.ClearLockout(ctx, uid) })
}

// SignOut revokes every session of uid; every replica denies their access
// tokens at once (this one directly, the others from the SESSIONS stream).
func (s *Service) SignOut(ctx context.Context, uid string) error {
	return s.act(ctx, ActionSignOut, auth.AuditSessionsRevoked, uid, func() error {
		rev, err := s.store.SignOut(ctx, uid)
		s.apply(rev)
		return err
	})
}

// Delete deletes uid by the self-service path: sessions revoked,
// user.deleted (the notifier removes the user from the Agent and mails a
// goodbye), the audit row.
func (s *Service) Delete(ctx context.Context, uid string) error {
	return s.act(ctx, ActionDelete, auth.AuditUserDeleted, uid, func() error { return s.accounts.RemoveAccount(ctx, uid) })
}

// act runs a change, counts it, and writes an audit row for a change that
// did not happen (the change's own row is written with it).
func (s *Service) act(ctx context.Context, action, auditAction, uid string, change func() error) (err error) {
	defer s.count(action, &err)
	err = change()
	if outcome := outcomeOf(err); outcome != auth.OutcomeOK {
		if werr := s.store.WriteAudit(context.WithoutCancel(ctx), auth.AuditEntry{Action: auditAction, TargetUID: uid,
			Outcome: outcome}); werr != nil {
			s.log.WarnContext(ctx, "audit row of a failed admin action not written", "action", auditAction, "error", werr)
		}
	}
	return err
}

func (s *Service) apply(rev events.Revocation) {
	if s.applied != nil && rev.ID != "" {
		s.applied(rev)
	}
}

func (s *Service) count(action string, err *error) {
	s.actions.WithLabelValues(action, outcomeLabel(*err)).Inc()
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return auth.OutcomeOK
	case errors.Is(err, auth.ErrNotFound):
		return auth.OutcomeNotFound
	case errors.Is(err, ErrAlreadyVerified):
		return auth.OutcomeRefused
	}
	return auth.OutcomeError
}

func outcomeLabel(err error) string {
	if _, ok := errors.AsType[*auth.ValidationError](err); ok {
		return "invalid"
	}
	return outcomeOf(err)
}

// Since parses the audit filter's since: RFC 3339 or a duration back from
// now ("24h").
func Since(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, invalid("since", "Must be an RFC 3339 time or a duration like 24h.")
}
