package auth

import (
	"context"
	"errors"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
)

// EmailChange says what RequestEmailChange writes: the pending change's
// token and its event, within the new address's mail budget. Zero writes
// nothing.
type EmailChange struct {
	Token      *Token
	Event      *events.Event
	MailBudget int
}

// AccountStore is the persistence of the authenticated account changes;
// every method writes its events to the outbox in its transaction.
type AccountStore interface {
	// AccountByUID finds an account, or ErrNotFound.
	AccountByUID(ctx context.Context, uid string) (Account, error)
	// ChangePassword sets uid's hash, revokes every session but keepSession
	// and writes event(account).
	ChangePassword(ctx context.Context, uid, keepSession, passwordHash string, event func(Account) events.Event) error
	// RequestEmailChange locks uid's account, tells build whether newEmail
	// belongs to another account, and writes what it returns (revoking
	// uid's older pending changes). ErrOverBudget when newEmail's budget is
	// spent.
	RequestEmailChange(ctx context.Context, uid, newEmail string, build func(a Account, taken bool) EmailChange) error
	// ConfirmEmailChange uses the live token with this hash and moves its
	// account to the new address, verified, writing event(account, old
	// address). A token used before, within its lifetime, is success with
	// nothing written. ErrTokenInvalid when the token is unknown, revoked or
	// expired, or the address was taken meanwhile.
	ConfirmEmailChange(ctx context.Context, hash []byte, now time.Time, event func(a Account, previous string) events.Event) error
	// DeleteAccount revokes every session of uid, deletes the account and
	// everything keyed by it, and writes event(account).
	DeleteAccount(ctx context.Context, uid string, event func(Account) events.Event) error
}

// confirmPassword checks uid's password for an authenticated change, under
// the login lockout of the source it comes from. in is the check as a
// login: its Password, and its ClientIP and Device for the source; its
// Email is ignored (the account's is used). field names the password in the
// request, for the field error. Admission to hashing is the caller's
// (httpapi takes it before the body is read).
func (s *Service) confirmPassword(ctx context.Context, uid string, in Login, field string) (Account, error) {
	acct, err := s.accounts.AccountByUID(ctx, uid)
	if errors.Is(err, ErrNotFound) {
		return Account{}, ErrInvalidCredentials // deleted meanwhile
	}
	if err != nil {
		return Account{}, err
	}
	key := NormalizeEmail(acct.Email)
	now := s.cfg.Now()
	source, trusted := s.source(in, acct)
	if err := s.checkLock(ctx, key, source, trusted, now); err != nil {
		return Account{}, err
	}
	ok, _, err := s.hasher.Verify(ctx, in.Password, acct.PasswordHash)
	if err != nil {
		return Account{}, err
	}
	if !ok {
		ctx, cancel := settle(ctx)
		defer cancel()
		if err := s.fail(ctx, key, source, trusted, acct, now); !errors.Is(err, ErrInvalidCredentials) {
			return Account{}, err
		}
		ve := &ValidationError{}
		ve.add(field, "Incorrect password.")
		return Account{}, ve
	}
	return acct, s.store.ResetLoginFailures(ctx, key, source)
}

// ChangePassword sets a new password (checked against the rules by the
// caller) after checking the current one (current.Password, see
// confirmPassword); the user's other sessions end and the owner is told by
// email.
func (s *Service) ChangePassword(ctx context.Context, uid, sessionID string, current Login, next string) error {
	if _, err := s.confirmPassword(ctx, uid, current, "current_password"); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	return s.accounts.ChangePassword(ctx, uid, sessionID, hash, func(a Account) events.Event {
		return s.event(events.PasswordChanged, a, "", nil, now)
	})
}

// RequestEmailChange mails a confirmation link to newEmail and a notice to
// the current address. An address that belongs to another account gets the
// same answer and no email: its owner is not revealed, and the link could
// not succeed anyway.
func (s *Service) RequestEmailChange(ctx context.Context, uid string, password Login, newEmail string) error {
	if _, err := s.confirmPassword(ctx, uid, password, "password"); err != nil {
		return err
	}
	if s.cfg.EmailConfirmURL == nil {
		return errors.New("auth: RequestEmailChange needs Config.EmailConfirmURL")
	}
	now := s.cfg.Now()
	secret, tok := newSecret(now.Add(s.cfg.EmailChangeTTL))
	err := s.accounts.RequestEmailChange(ctx, uid, newEmail, func(a Account, taken bool) EmailChange {
		if taken || NormalizeEmail(a.Email) == NormalizeEmail(newEmail) {
			return EmailChange{}
		}
		ev := s.event(events.EmailChangeRequested, a, "", nil, now)
		exp := tok.ExpiresAt.UTC()
		ev.NewEmail, ev.ConfirmURL, ev.ConfirmExpiresAt = newEmail, s.cfg.EmailConfirmURL(secret), &exp
		return EmailChange{Token: &tok, Event: &ev, MailBudget: s.cfg.MailBudget}
	})
	return s.budgetSpent(err, "email_change")
}

// ConfirmEmail applies the email change of a confirmation link.
func (s *Service) ConfirmEmail(ctx context.Context, secret string) error {
	hash, err := TokenHash(secret)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	return s.accounts.ConfirmEmailChange(ctx, hash, now, func(a Account, previous string) events.Event {
		ev := s.event(events.EmailChanged, a, "", nil, now)
		ev.PreviousEmail = previous
		return ev
	})
}

// DeleteAccount deletes uid's account after checking its password; every
// session ends, the Agent is told, and a goodbye email goes to the address.
func (s *Service) DeleteAccount(ctx context.Context, uid string, password Login) error {
	if _, err := s.confirmPassword(ctx, uid, password, "password"); err != nil {
		return err
	}
	return s.RemoveAccount(ctx, uid)
}

// RemoveAccount deletes uid's account without a password: the operators'
// deletion (internal/admin), on the self-service path. ErrNotFound when
// there is none.
func (s *Service) RemoveAccount(ctx context.Context, uid string) error {
	if s.accounts == nil {
		return errors.New("auth: RemoveAccount needs a store with AccountStore")
	}
	now := s.cfg.Now()
	return s.accounts.DeleteAccount(ctx, uid, func(a Account) events.Event {
		return s.event(events.UserDeleted, a, "", nil, now)
	})
}
