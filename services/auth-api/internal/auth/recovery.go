package auth

import (
	"context"
	"errors"

	"github.com/kairos-platform/identity/pkg/events"
)

// budgetKinds are the label values of kairos_mail_budget_exceeded_total.
var budgetKinds = []string{"signup", "resend", "forgot", "email_change"}

// budgetSpent turns ErrOverBudget into success, counted: the caller gets
// its usual answer and the address no email.
func (s *Service) budgetSpent(err error, kind string) error {
	if errors.Is(err, ErrOverBudget) {
		s.overBudget.WithLabelValues(kind).Inc()
		return nil
	}
	return err
}

// Forgot queues a password reset link when email belongs to an account
// (verified or not: the link proves the mailbox), revoking its older reset
// links. It reports nothing about the account, and an unknown address costs
// the store the same work as a known one.
func (s *Service) Forgot(ctx context.Context, email string) error {
	if s.cfg.ResetURL == nil {
		return errors.New("auth: Forgot needs Config.ResetURL")
	}
	now := s.cfg.Now()
	secret, tok := newSecret(now.Add(s.cfg.ResetTTL))
	err := s.store.Reissue(ctx, email, func(a Account) Reissue {
		ev := s.event(events.PasswordResetRequested, a, "", nil, now)
		exp := tok.ExpiresAt.UTC()
		ev.ResetURL, ev.ResetExpiresAt = s.cfg.ResetURL(secret), &exp
		return Reissue{ResetToken: &tok, Event: &ev, MailBudget: s.cfg.MailBudget}
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return s.budgetSpent(err, "forgot")
}

// ResetPassword sets a new password with a reset token (already checked
// against the password rules by the caller). Every session of the account
// ends, its login lock is lifted, and the owner is told by email.
func (s *Service) ResetPassword(ctx context.Context, secret, password string) error {
	hash, err := TokenHash(secret)
	if err != nil {
		return err
	}
	encoded, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	return s.store.ResetPassword(ctx, hash, encoded, now, func(a Account) events.Event {
		return s.event(events.PasswordChanged, a, "", nil, now)
	})
}
