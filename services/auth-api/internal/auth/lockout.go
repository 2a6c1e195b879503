package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/pkg/events"
)

// The lockout counts failures per (email, source), so that an attacker who
// knows an address locks only their own sources, never its owner's. A source
// is a device the owner logged in from before (a valid kairos_device cookie
// naming this account) or, without one, the client's network prefix. On top,
// consecutive failures from untrusted sources (every source but a known
// device) are counted per email; at the ceiling untrusted sources are refused
// until a password reset or a known-device login (NIST SP 800-63B: at most
// 100 consecutive failures).

// Device is what a validly signed device cookie claims: the account it was
// issued to and its random id. The HTTP layer checks the signature and the
// expiry; the rules check that UID is the account being logged into.
type Device struct {
	UID string
	ID  string
}

// LoginThrottle is the lockout state a login attempt is judged by.
type LoginThrottle struct {
	SourceLockedUntil time.Time // zero when the source is not locked
	AccountFailures   int       // consecutive failures from untrusted sources
}

// LoginFailure is one failed attempt, as the store records it.
type LoginFailure struct {
	Email     string // normalised
	Source    string
	Untrusted bool // counts towards the account-wide ceiling too
	Now       time.Time
	// Notice, when set, is written to the outbox in the same transaction by
	// the failure that brings the account-wide count to exactly Ceiling, so
	// the owner is told once per episode.
	Notice  *events.Event
	Ceiling int
}

// Lock kinds, the values of the kind label of kairos_login_lockouts_total.
const (
	LockSource  = "source"  // a network source reached MaxLoginFailures
	LockDevice  = "device"  // a known device reached MaxLoginFailures
	LockAccount = "account" // the account-wide ceiling was reached
)

// Defaults used when Config leaves them zero.
const (
	DefaultMaxAccountFailures = 100 // NIST SP 800-63B's most
	DefaultSourcePrefixV4     = 32
	DefaultSourcePrefixV6     = 64
)

func newLockoutCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kairos_login_lockouts_total",
		Help: "Login locks by kind: source (a client network), device (a known browser) or account (the account-wide ceiling).",
	}, []string{"kind"})
	for _, k := range []string{LockSource, LockDevice, LockAccount} {
		c.WithLabelValues(k)
	}
	if reg != nil {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("auth metrics: %w", err)
		}
	}
	return c, nil
}

// source names where an attempt on acct comes from. A device cookie issued
// to another account (or presented for an unknown address) counts for
// nothing: the attempt falls back to its network.
func (s *Service) source(in Login, acct Account) (key string, trusted bool) {
	if in.Device.ID != "" && acct.UID != "" && in.Device.UID == acct.UID {
		return "device:" + in.Device.ID, true
	}
	ip := in.ClientIP.Unmap()
	if !ip.IsValid() {
		return "net:unknown", false
	}
	bits := s.cfg.SourcePrefixV6
	if ip.Is4() {
		bits = s.cfg.SourcePrefixV4
	}
	p, _ := ip.Prefix(bits) // bits is checked by New
	return "net:" + p.String(), false
}

// checkLock refuses an attempt from a locked source, or from an untrusted
// source once the account-wide ceiling is reached.
func (s *Service) checkLock(ctx context.Context, key, source string, trusted bool, now time.Time) error {
	st, err := s.store.LoginThrottle(ctx, key, source)
	if err != nil {
		return err
	}
	if now.Before(st.SourceLockedUntil) {
		return &LockedError{RetryAfter: st.SourceLockedUntil.Sub(now)}
	}
	if !trusted && st.AccountFailures >= s.cfg.MaxAccountFailures {
		// No end of its own: a retry in LockMax is as good as any.
		return &LockedError{RetryAfter: LockMax, Account: true}
	}
	return nil
}

// fail records a failed attempt and locks the source when it reaches
// MaxLoginFailures. acct is zero for an unknown address: the same rows are
// written, only no notice (there is nobody to tell).
func (s *Service) fail(ctx context.Context, key, source string, trusted bool, acct Account, now time.Time) error {
	f := LoginFailure{Email: key, Source: source, Untrusted: !trusted, Now: now, Ceiling: s.cfg.MaxAccountFailures}
	if acct.UID != "" && !trusted {
		ev := events.Event{ID: uuid.NewString(), Type: events.LoginAttackSuspected, Version: events.Version,
			OccurredAt: now.UTC(), User: events.User{UID: acct.UID, Username: acct.Username, Email: acct.Email}}
		f.Notice = &ev
	}
	n, total, err := s.store.RecordLoginFailure(ctx, f)
	if err != nil {
		return err
	}
	if n >= s.cfg.MaxLoginFailures {
		if err := s.store.LockLoginSource(ctx, key, source, now.Add(LockDuration(n-s.cfg.MaxLoginFailures))); err != nil {
			return err
		}
		kind := LockSource
		if trusted {
			kind = LockDevice
		}
		s.lockouts.WithLabelValues(kind).Inc()
	}
	if !trusted && total == s.cfg.MaxAccountFailures {
		s.lockouts.WithLabelValues(LockAccount).Inc()
	}
	return ErrInvalidCredentials
}

// checkPrefixes fills in and checks the source prefix lengths.
func checkPrefixes(c *Config) error {
	if c.SourcePrefixV4 == 0 {
		c.SourcePrefixV4 = DefaultSourcePrefixV4
	}
	if c.SourcePrefixV6 == 0 {
		c.SourcePrefixV6 = DefaultSourcePrefixV6
	}
	if c.SourcePrefixV4 < 1 || c.SourcePrefixV4 > 32 || c.SourcePrefixV6 < 1 || c.SourcePrefixV6 > 128 {
		return fmt.Errorf("auth: source prefixes /%d (IPv4) and /%d (IPv6) out of range", c.SourcePrefixV4, c.SourcePrefixV6)
	}
	return nil
}
