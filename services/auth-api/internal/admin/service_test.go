package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/admin"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/hashing"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

const password = "a-long-enough-password"

type env struct {
	ops     *admin.Service
	auth    *auth.Service
	store   *postgres.Store
	pool    *pgxpool.Pool
	reg     *prometheus.Registry
	applied []events.Revocation
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := migrationstest.NewPool(t)
	e := &env{pool: pool, store: postgres.New(pool), reg: prometheus.NewRegistry()}
	h, err := hashing.New(passhash.Params{MemoryKiB: 64, Time: 1, Parallelism: 1}, hashing.Options{Concurrency: 2, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.auth, err = auth.New(e.store, h, auth.Config{VerifyURL: func(s string) string { return "https://id.example/v/" + s },
		TokenTTL: time.Hour, MaxLoginFailures: 5, MailBudget: 5})
	if err != nil {
		t.Fatal(err)
	}
	e.ops, err = admin.New(e.store, e.auth, admin.Options{Registerer: e.reg,
		Applied: func(r events.Revocation) { e.applied = append(e.applied, r) }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// signup makes an account (verified when asked) with one live session.
func (e *env) signup(t *testing.T, email string, verified bool) string {
	t.Helper()
	ctx := context.Background()
	if _, err := e.auth.Signup(ctx, auth.Signup{Username: "u", Email: email, Password: password}); err != nil {
		t.Fatal(err)
	}
	a, err := e.store.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if verified {
		if err := e.store.MarkVerified(ctx, a.UID); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := session.NewID()
	_, hash, _ := session.NewRefreshToken()
	if _, err := e.store.CreateSession(ctx, session.New{ID: id, UID: a.UID, RefreshHash: hash, RefreshTTL: time.Hour, MaxAge: time.Hour,
		ClientIP: netip.MustParseAddr("192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	return a.UID
}

func (e *env) login(email string) error {
	_, err := e.auth.Login(context.Background(), auth.Login{Email: email, Password: password, ClientIP: netip.MustParseAddr("198.51.100.1")})
	return err
}

var operator = auth.Actor{Name: "api:alice", RequestID: "req-7", ClientIP: "10.0.0.5"}

// Every action, with what it must leave behind: the account's state, its
// sessions, its events and its audit row naming the operator.
func TestActions(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, e *env, uid string)
	liveSessions := func(want int) check {
		return func(t *testing.T, e *env, uid string) {
			d, err := e.ops.Show(context.Background(), uid)
			if err != nil || len(d.Sessions) != want {
				t.Fatalf("live sessions: %d, %v; want %d", len(d.Sessions), err, want)
			}
		}
	}
	status := func(want string) check {
		return func(t *testing.T, e *env, uid string) {
			d, err := e.ops.Show(context.Background(), uid)
			if err != nil || d.Status != want {
				t.Fatalf("status %q, %v; want %q", d.Status, err, want)
			}
		}
	}
	loginIs := func(want error) check {
		return func(t *testing.T, e *env, uid string) {
			d, _ := e.ops.Show(context.Background(), uid)
			if err := e.login(d.Email); !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Fatalf("login: %v, want %v", err, want)
			}
		}
	}
	revocationApplied := func(t *testing.T, e *env, uid string) {
		if len(e.applied) != 1 || e.applied[0].UID != uid || e.applied[0].Before == nil {
			t.Fatalf("revocations applied here: %+v; want one cutoff for %s", e.applied, uid)
		}
	}
	outbox := func(typ string) check {
		return func(t *testing.T, e *env, uid string) {
			for _, ev := range migrationstest.OutboxEvents(t, e.pool) {
				if ev.Type == typ && ev.User.UID == uid {
					return
				}
			}
			t.Fatalf("no %s event for %s in the outbox", typ, uid)
		}
	}
	tests := []struct {
		name     string
		verified bool
		before   func(t *testing.T, e *env, uid string)
		act      func(*admin.Service, context.Context, string) error
		audit    string
		checks   []check
	}{
		{"verify", false, nil, (*admin.Service).Verify, auth.AuditUserVerified,
			[]check{status("verified"), loginIs(nil)}},
		{"resend verification", false, nil, (*admin.Service).ResendVerification, auth.AuditVerifyResent,
			[]check{outbox(events.VerificationRequested)}},
		{"disable", true, nil, (*admin.Service).Disable, auth.AuditUserDisabled,
			[]check{status("disabled"), liveSessions(0), loginIs(auth.ErrInvalidCredentials), revocationApplied}},
		{"enable", true, func(t *testing.T, e *env, uid string) {
			if err := e.ops.Disable(context.Background(), uid); err != nil {
				t.Fatal(err)
			}
		}, (*admin.Service).Enable, auth.AuditUserEnabled, []check{status("verified"), loginIs(nil)}},
		{"unlock", true, func(t *testing.T, e *env, uid string) {
			d, _ := e.ops.Show(context.Background(), uid)
			for range 5 {
				_, _ = e.auth.Login(context.Background(), auth.Login{Email: d.Email, Password: "wrong-wrong-wrong", ClientIP: netip.MustParseAddr("198.51.100.1")})
			}
			if err := e.login(d.Email); !errors.As(err, new(*auth.LockedError)) {
				t.Fatalf("after 5 failures: %v, want locked", err)
			}
		}, (*admin.Service).Unlock, auth.AuditLoginUnlocked, []check{loginIs(nil)}},
		{"sign out", true, nil, (*admin.Service).SignOut, auth.AuditSessionsRevoked,
			[]check{liveSessions(0), revocationApplied}},
		{"delete", true, nil, (*admin.Service).Delete, auth.AuditUserDeleted,
			[]check{outbox(events.UserDeleted), loginIs(auth.ErrInvalidCredentials), func(t *testing.T, e *env, uid string) {
				if _, err := e.ops.Show(context.Background(), uid); !errors.Is(err, auth.ErrNotFound) {
					t.Fatalf("show after delete: %v", err)
				}
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			uid := e.signup(t, "user@example.com", tt.verified)
			if tt.before != nil {
				tt.before(t, e, uid)
				e.applied = nil
			}
			ctx := auth.WithActor(context.Background(), operator)
			if err := tt.act(e.ops, ctx, uid); err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.checks {
				c(t, e, uid)
			}
			rows, err := e.store.Audit(ctx, admin.AuditFilter{UID: uid, Action: tt.audit, Limit: 5})
			if err != nil || len(rows) == 0 {
				t.Fatalf("no %s audit row: %v", tt.audit, err)
			}
			if r := rows[0]; r.Actor != operator.Name || r.RequestID != operator.RequestID || r.ClientIP != operator.ClientIP || r.Outcome != "ok" {
				t.Fatalf("audit row %+v, want the operator's, ok", r)
			}
			if n := okCount(t, e.reg, tt.name); n != 1 {
				t.Fatalf("kairos_admin_actions_total{outcome=ok} = %v, want 1", n)
			}
		})
	}
}

// okCount is kairos_admin_actions_total{action, outcome="ok"} of the test
// named name.
func okCount(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	action := map[string]string{"verify": admin.ActionVerify, "resend verification": admin.ActionResend, "disable": admin.ActionDisable,
		"enable": admin.ActionEnable, "unlock": admin.ActionUnlock, "sign out": admin.ActionSignOut, "delete": admin.ActionDelete}[name]
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if mf.GetName() == "kairos_admin_actions_total" && l["action"] == action && l["outcome"] == "ok" {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no kairos_admin_actions_total{action=%q}", action)
	return 0
}

// An action on an unknown uid is refused, counted and audited as such.
func TestUnknownUserIsAuditedNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := auth.WithActor(context.Background(), operator)
	for _, uid := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uid"} {
		if err := e.ops.Disable(ctx, uid); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("disable %s: %v, want not found", uid, err)
		}
	}
	rows, err := e.store.Audit(ctx, admin.AuditFilter{Action: auth.AuditUserDisabled, Limit: 5})
	if err != nil || len(rows) != 2 || rows[0].Outcome != auth.OutcomeNotFound {
		t.Fatalf("audit rows %+v, %v; want two not_found", rows, err)
	}
	if err := e.ops.ResendVerification(ctx, e.signup(t, "done@example.com", true)); !errors.Is(err, admin.ErrAlreadyVerified) {
		t.Fatalf("resend to a verified user: %v", err)
	}
}

// Pages are stable and complete: every user once, in order, whatever the
// page size; the filters narrow them.
func TestListPagesAndFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var uids []string
	for i := range 7 {
		uids = append(uids, e.signup(t, fmt.Sprintf("p%d_x@example.com", i), i%2 == 0))
	}
	other := e.signup(t, "someone@example.org", true)
	if err := e.ops.Disable(ctx, uids[0]); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 3, 8} {
		var seen []string
		var after *admin.Cursor
		for {
			p, err := e.ops.List(ctx, admin.Filter{Query: "P", Limit: size, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range p.Users {
				seen = append(seen, u.UID)
			}
			if p.Next == "" {
				break
			}
			if after, err = admin.ParseCursor(p.Next); err != nil {
				t.Fatal(err)
			}
		}
		if fmt.Sprint(seen) != fmt.Sprint(uids) {
			t.Fatalf("pages of %d: %v, want %v", size, seen, uids)
		}
	}
	for _, c := range []struct {
		f    admin.Filter
		want int
	}{
		{admin.Filter{Status: admin.StatusDisabled}, 1},
		{admin.Filter{Status: admin.StatusVerified}, 4}, // p2, p4, p6 and someone
		{admin.Filter{Status: admin.StatusUnverified}, 3},
		{admin.Filter{Query: other}, 1},
		{admin.Filter{Query: "p1_"}, 1}, // _ is a character, not a wildcard
		{admin.Filter{Query: "p%"}, 0},
	} {
		p, err := e.ops.List(ctx, c.f)
		if err != nil || len(p.Users) != c.want {
			t.Errorf("%+v: %d users, %v; want %d", c.f, len(p.Users), err, c.want)
		}
	}
	if _, err := e.ops.List(ctx, admin.Filter{Status: "gone"}); !errors.As(err, new(*auth.ValidationError)) {
		t.Fatalf("bad status: %v", err)
	}
}
