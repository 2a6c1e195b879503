package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// verified signs up and verifies an account, and returns its uid.
func verified(t *testing.T, e *env, email, password string) string {
	t.Helper()
	signup(t, e, "user", email, password)
	evs := migrationstest.OutboxEvents(t, e.pool)
	ev := evs[len(evs)-1]
	if _, err := e.svc.Verify(context.Background(), tokenOf(t, ev)); err != nil {
		t.Fatal(err)
	}
	return ev.User.UID
}

// lastOfType is the newest outbox event of typ.
func lastOfType(t *testing.T, e *env, typ string) (events.Event, int) {
	t.Helper()
	var last events.Event
	n := 0
	for _, ev := range migrationstest.OutboxEvents(t, e.pool) {
		if ev.Type == typ {
			last, n = ev, n+1
		}
	}
	return last, n
}

func resetToken(t *testing.T, ev events.Event) string {
	t.Helper()
	tok, ok := strings.CutPrefix(ev.ResetURL, "https://app.example/reset#token=")
	if !ok || len(tok) != 43 {
		t.Fatalf("reset_url %q", ev.ResetURL)
	}
	return tok
}

func TestForgotAndReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	uid := verified(t, e, "ann@example.com", "old-pass-123")
	if _, err := e.pool.Exec(ctx, `INSERT INTO sessions (id, uid, expires_at, absolute_expires_at)
		VALUES (gen_random_uuid(), $1, now() + interval '1 day', now() + interval '1 day')`, uid); err != nil {
		t.Fatal(err)
	}
	// Locked out by failed logins: the reset lifts the lock.
	for range 3 {
		_, _ = e.svc.Login(ctx, auth.Login{Email: "ann@example.com", Password: "wrong-pass"})
	}
	if _, err := e.svc.Login(ctx, auth.Login{Email: "ann@example.com", Password: "old-pass-123"}); err == nil {
		t.Fatal("not locked")
	}

	// Unknown address: no error, no event.
	if err := e.svc.Forgot(ctx, "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, n := lastOfType(t, e, events.PasswordResetRequested); n != 0 {
		t.Fatal("event written for an unknown address")
	}
	if err := e.svc.Forgot(ctx, "ANN@example.com"); err != nil {
		t.Fatal(err)
	}
	first, _ := lastOfType(t, e, events.PasswordResetRequested)
	if err := e.svc.Forgot(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	ev, n := lastOfType(t, e, events.PasswordResetRequested)
	if n != 2 || ev.User.UID != uid || ev.ResetExpiresAt == nil || !ev.ResetExpiresAt.Equal(e.clock.Now().Add(30*time.Minute)) {
		t.Fatalf("%d reset events, last %+v", n, ev)
	}
	if n := e.count(t, `SELECT count(*) FROM password_reset_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'`, resetToken(t, ev)); n != 0 {
		t.Fatal("reset token stored in clear")
	}
	// The newer request revoked the older link.
	if err := e.svc.ResetPassword(ctx, resetToken(t, first), "new-pass-456"); !errors.Is(err, auth.ErrTokenInvalid) {
		t.Fatalf("older token: %v, want ErrTokenInvalid", err)
	}
	// The newest works once.
	tok := resetToken(t, ev)
	if err := e.svc.ResetPassword(ctx, tok, "new-pass-456"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetPassword(ctx, tok, "other-pass-789"); !errors.Is(err, auth.ErrTokenInvalid) {
		t.Fatalf("second use: %v, want ErrTokenInvalid", err)
	}
	if got, err := e.svc.Login(ctx, auth.Login{Email: "ann@example.com", Password: "new-pass-456"}); err != nil || got != uid {
		t.Fatalf("login with the new password: %q, %v", got, err)
	}
	if _, err := e.svc.Login(ctx, auth.Login{Email: "ann@example.com", Password: "old-pass-123"}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("old password: %v", err)
	}
	if _, n := lastOfType(t, e, events.PasswordChanged); n != 1 {
		t.Fatalf("%d user.password_changed events, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM sessions WHERE uid = $1 AND revoked_at IS NULL`, uid); n != 0 {
		t.Fatalf("%d sessions still live", n)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox WHERE subject = 'session.revoked'`); n != 1 {
		t.Fatalf("%d session.revoked events, want 1", n)
	}
}

func TestResetVerifiesAndExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	signup(t, e, "bob", "bob@example.com", "old-pass-123") // never verified
	if err := e.svc.Forgot(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	ev, _ := lastOfType(t, e, events.PasswordResetRequested)
	e.clock.Add(30 * time.Minute)
	if err := e.svc.ResetPassword(ctx, resetToken(t, ev), "new-pass-456"); !errors.Is(err, auth.ErrTokenInvalid) {
		t.Fatalf("expired token: %v, want ErrTokenInvalid", err)
	}
	if err := e.svc.Forgot(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	ev, _ = lastOfType(t, e, events.PasswordResetRequested)
	if err := e.svc.ResetPassword(ctx, resetToken(t, ev), "new-pass-456"); err != nil {
		t.Fatal(err)
	}
	// The link proved the mailbox: the account is verified.
	if _, err := e.svc.Login(ctx, auth.Login{Email: "bob@example.com", Password: "new-pass-456"}); err != nil {
		t.Fatalf("login after reset of an unverified account: %v", err)
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 43)} {
		if err := e.svc.ResetPassword(ctx, bad, "new-pass-456"); !errors.Is(err, auth.ErrTokenInvalid) {
			t.Errorf("ResetPassword(%q) = %v", bad, err)
		}
	}
}

// Every mail a stranger can trigger for one address shares its budget: five
// an hour, then the calls still succeed and nothing is written.
func TestMailBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	signup(t, e, "cy", "cy@example.com", "old-pass-123") // user.created: not budgeted
	calls := []func() error{
		func() error { return e.svc.Resend(ctx, "cy@example.com") },
		func() error { return e.svc.Forgot(ctx, "CY@example.com") },
		func() error {
			_, err := e.svc.Signup(ctx, auth.Signup{Username: "x", Email: "cy@example.com", Password: "another-pass-1"})
			return err
		},
	}
	for i := range 8 {
		if err := calls[i%len(calls)](); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := len(migrationstest.OutboxEvents(t, e.pool)); n != 1+5 {
		t.Fatalf("%d events, want the creation and 5 budgeted", n)
	}
	if got := sumCounter(t, e, "kairos_mail_budget_exceeded_total"); got != 3 {
		t.Errorf("over-budget count %v, want 3", got)
	}
	// Another address has its own budget.
	signup(t, e, "di", "di@example.com", "old-pass-123")
	if err := e.svc.Forgot(ctx, "di@example.com"); err != nil {
		t.Fatal(err)
	}
	if ev, n := lastOfType(t, e, events.PasswordResetRequested); n != 3 || ev.User.Email != "di@example.com" {
		t.Fatalf("%d reset events, want 2 for cy (within the budget) and 1 for di", n)
	}
	// An hour later the budget is back (the window is the database's clock).
	if _, err := e.pool.Exec(ctx, `UPDATE mail_budget SET window_start = window_start - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Forgot(ctx, "cy@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, n := lastOfType(t, e, events.PasswordResetRequested); n != 4 {
		t.Fatalf("%d reset events after the hour, want 4", n)
	}
	if n := e.count(t, `SELECT count(*) FROM mail_budget WHERE encode(address_hash, 'escape') LIKE '%cy@%'`); n != 0 {
		t.Fatal("address stored in clear")
	}
}

// sumCounter adds up every series of a counter.
func sumCounter(t *testing.T, e *env, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// A login between the request and the reset does not revoke the link.
func TestLoginKeepsResetLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	verified(t, e, "dee@example.com", "old-pass-123")
	if err := e.svc.Forgot(ctx, "dee@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(ctx, auth.Login{Email: "dee@example.com", Password: "old-pass-123"}); err != nil {
		t.Fatal(err)
	}
	ev, _ := lastOfType(t, e, events.PasswordResetRequested)
	if err := e.svc.ResetPassword(ctx, resetToken(t, ev), "new-pass-456"); err != nil {
		t.Fatalf("reset after a login: %v", err)
	}
}
