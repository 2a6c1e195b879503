package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

const ownerPassword = "s3cret-pass"

// verifiedOwner signs up and verifies a@example.com and returns its uid.
func verifiedOwner(t *testing.T, e *env) string {
	t.Helper()
	signup(t, e, "a", "a@example.com", ownerPassword)
	ev := migrationstest.OutboxEvents(t, e.pool)[0]
	if _, err := e.svc.Verify(context.Background(), tokenOf(t, ev)); err != nil {
		t.Fatal(err)
	}
	return ev.User.UID
}

// attempt logs in from ip (and the device, if any).
func attempt(e *env, email, password, ip string, dev auth.Device) error {
	_, err := e.svc.Login(context.Background(), auth.Login{Email: email, Password: password,
		ClientIP: netip.MustParseAddr(ip), Device: dev})
	return err
}

func noticeCount(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	for _, ev := range migrationstest.OutboxEvents(t, e.pool) {
		if ev.Type == events.LoginAttackSuspected {
			n++
		}
	}
	return n
}

// An attacker's failures lock the attacker's address only: the owner from
// another address logs in, and so does anybody on another IPv6 /64.
func TestFailuresLockTheirSourceOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap, func(c *auth.Config) { c.MaxLoginFailures = 5 })
	uid := verifiedOwner(t, e)
	var locked *auth.LockedError
	for _, email := range []string{"a@example.com", "nobody@example.com"} { // same for unknown addresses
		failures := 0
		for i := range 50 {
			err := attempt(e, email, fmt.Sprint("guess-", i), "203.0.113.7", auth.Device{})
			if errors.As(err, &locked) {
				// Wait the lock out, so that all 50 attempts are counted.
				if locked.Account {
					t.Fatalf("%s: account-wide lock after %d failures, below the ceiling", email, failures)
				}
				e.clock.Add(locked.RetryAfter)
				err = attempt(e, email, fmt.Sprint("guess-", i), "203.0.113.7", auth.Device{})
			}
			if !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("%s: attempt %d: %v", email, i, err)
			}
			failures++
		}
		// The attacker's address is locked, even with the right password...
		if err := attempt(e, email, ownerPassword, "203.0.113.7", auth.Device{}); !errors.As(err, &locked) || locked.Account {
			t.Fatalf("%s: attacker's address after 50 failures: %v, want a source lock", email, err)
		}
	}
	// ... and only it: the owner elsewhere is not.
	if err := attempt(e, "a@example.com", ownerPassword, "198.51.100.1", auth.Device{}); err != nil {
		t.Fatalf("owner from another address: %v", err)
	}
	// A neighbour in the attacker's IPv6 /64 shares its source; another /64 does not.
	for range 5 {
		_ = attempt(e, "a@example.com", "wrong", "2001:db8:1:1::1", auth.Device{})
	}
	if err := attempt(e, "a@example.com", ownerPassword, "2001:db8:1:1::2", auth.Device{}); !errors.As(err, &locked) {
		t.Fatalf("same /64: %v, want locked", err)
	}
	if uidGot, err := e.svc.Login(context.Background(), auth.Login{Email: "a@example.com", Password: ownerPassword,
		ClientIP: netip.MustParseAddr("2001:db8:1:2::1")}); err != nil || uidGot != uid {
		t.Fatalf("another /64: %q, %v", uidGot, err)
	}
	if n := e.count(t, `SELECT count(*) FROM login_sources WHERE email = 'nobody@example.com'`); n != 1 {
		t.Fatalf("%d source rows for the unknown address, want 1 as for a known one", n)
	}
}

// At the account-wide ceiling untrusted sources are refused (the right
// password included, unknown addresses alike) while a known device logs in;
// its login lifts the ceiling. A device cookie of another account counts
// for nothing. The owner is told once.
func TestDeviceLogsInAfterTheCeiling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap, func(c *auth.Config) { c.MaxLoginFailures = 3; c.MaxAccountFailures = 10 })
	uid := verifiedOwner(t, e)
	device := auth.Device{UID: uid, ID: "dev-1"}
	for _, email := range []string{"a@example.com", "nobody@example.com"} {
		for i := range 10 { // ten addresses, one guess each: no source is locked
			if err := attempt(e, email, "wrong", fmt.Sprintf("192.0.2.%d", i+1), auth.Device{}); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("%s: guess %d: %v", email, i, err)
			}
		}
		var locked *auth.LockedError
		if err := attempt(e, email, ownerPassword, "198.51.100.1", auth.Device{}); !errors.As(err, &locked) || !locked.Account {
			t.Fatalf("%s: untrusted source at the ceiling: %v, want the account-wide lock", email, err)
		}
		other := auth.Device{UID: "00000000-0000-0000-0000-000000000001", ID: "dev-x"}
		if err := attempt(e, email, ownerPassword, "198.51.100.1", other); !errors.As(err, &locked) || !locked.Account {
			t.Fatalf("%s: another account's device: %v, want the account-wide lock", email, err)
		}
	}
	if got := counter(t, e.reg, "kairos_login_lockouts_total", "kind", "account"); got != 2 {
		t.Fatalf("account locks = %v, want 2", got)
	}
	if n := noticeCount(t, e); n != 1 {
		t.Fatalf("%d notices, want 1 (none for the unknown address)", n)
	}
	// The known device still works, from any address, and lifts the ceiling.
	if got, err := e.svc.Login(context.Background(), auth.Login{Email: "a@example.com", Password: ownerPassword,
		ClientIP: netip.MustParseAddr("192.0.2.1"), Device: device}); err != nil || got != uid {
		t.Fatalf("known device at the ceiling: %q, %v", got, err)
	}
	if err := attempt(e, "a@example.com", ownerPassword, "198.51.100.1", auth.Device{}); err != nil {
		t.Fatalf("untrusted source after the device's login: %v", err)
	}
	// A device's own failures lock that device only, and not the account.
	var locked *auth.LockedError
	for range 3 {
		_ = attempt(e, "a@example.com", "wrong", "192.0.2.1", device)
	}
	if err := attempt(e, "a@example.com", ownerPassword, "192.0.2.1", device); !errors.As(err, &locked) || locked.Account {
		t.Fatalf("device after 3 failures: %v, want a source lock", err)
	}
	if err := attempt(e, "a@example.com", ownerPassword, "192.0.2.1", auth.Device{}); err != nil {
		t.Fatalf("same address without the device: %v", err)
	}
	if got := counter(t, e.reg, "kairos_login_lockouts_total", "kind", "device"); got != 1 {
		t.Fatalf("device locks = %v, want 1", got)
	}
}

// Concurrent failures crossing the ceiling write the notice exactly once;
// failures after it are refused, not counted, so no second one follows.
// A password reset (ClearLoginLockout) lifts every lock.
func TestCeilingNoticeOnceAndClear(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap, func(c *auth.Config) { c.MaxAccountFailures = 10 })
	verifiedOwner(t, e)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { _ = attempt(e, "a@example.com", "wrong", fmt.Sprintf("192.0.2.%d", i+1), auth.Device{}) })
	}
	wg.Wait()
	for i := range 5 {
		_ = attempt(e, "a@example.com", "wrong", fmt.Sprintf("198.51.100.%d", i+1), auth.Device{})
	}
	if n := noticeCount(t, e); n != 1 {
		t.Fatalf("%d notices, want 1", n)
	}
	ev := migrationstest.OutboxEvents(t, e.pool)
	last := ev[len(ev)-1]
	if last.User.Email != "a@example.com" || last.VerifyURL != "" {
		t.Fatalf("notice = %+v", last)
	}

	for range 3 { // also lock one source
		_ = attempt(e, "a@example.com", "wrong", "203.0.113.9", auth.Device{})
	}
	if err := postgres.New(e.pool).ClearLoginLockout(context.Background(), "a@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"203.0.113.9", "198.51.100.77"} {
		if err := attempt(e, "a@example.com", ownerPassword, ip, auth.Device{}); err != nil {
			t.Fatalf("from %s after ClearLoginLockout: %v", ip, err)
		}
	}
	if n := e.count(t, `SELECT (SELECT count(*) FROM login_sources) + (SELECT count(*) FROM login_throttle)`); n != 0 {
		t.Fatalf("%d lockout rows left", n)
	}
}
