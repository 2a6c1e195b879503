package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/hashing"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// cheap keeps unit tests fast; the OWASP floor is enforced by config.
var cheap = passhash.Params{MemoryKiB: 64, Time: 1, Parallelism: 1}

func newHasher(t *testing.T, p passhash.Params, reg prometheus.Registerer) *hashing.Hasher {
	t.Helper()
	h, err := hashing.New(p, hashing.Options{Concurrency: 4, QueueTimeout: time.Minute, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// counter reads the value of a counter from g: the series whose labels
// include labels (name, value pairs), or the only one.
func counter(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s%v not registered", name, labels)
	return 0
}

type env struct {
	svc    *auth.Service
	hasher *hashing.Hasher
	pool   *pgxpool.Pool
	clock  *testkit.Clock
	reg    *prometheus.Registry
}

func newEnv(t *testing.T, p passhash.Params, opts ...func(*auth.Config)) *env {
	t.Helper()
	pool := migrationstest.NewPool(t)
	reg := prometheus.NewRegistry()
	c := testkit.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	h := newHasher(t, p, reg)
	cfg := auth.Config{
		VerifyURL: verifyURL, TokenTTL: 24 * time.Hour, MaxLoginFailures: 3, MaxAccountFailures: 100,
		ResetURL: func(tok string) string { return "https://app.example/reset#token=" + tok }, ResetTTL: 30 * time.Minute,
		MailBudget: 5, Now: c.Now, Registerer: reg,
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := auth.New(postgres.New(pool), h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, hasher: h, pool: pool, clock: c, reg: reg}
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// verifyURL stands for the HTTP layer's link builder.
func verifyURL(token string) string { return "https://id.example.com/api/verify/" + token + "/" }

func tokenOf(t *testing.T, ev events.Event) string {
	t.Helper()
	tok, ok := strings.CutPrefix(ev.VerifyURL, "https://id.example.com/api/verify/")
	if !ok || !strings.HasSuffix(tok, "/") {
		t.Fatalf("verify_url %q is not verifyURL(<token>)", ev.VerifyURL)
	}
	return strings.TrimSuffix(tok, "/")
}

func signup(t *testing.T, e *env, username, email, password string) auth.SignupResult {
	t.Helper()
	res, err := e.svc.Signup(context.Background(), auth.Signup{Username: username, Email: email, Password: password})
	if err != nil {
		t.Fatalf("Signup(%s): %v", email, err)
	}
	return res
}

func TestSignupVerifyLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	if res := signup(t, e, "John", "John@Example.com", "s3cret-pass"); res.Duplicate {
		t.Fatal("first signup reported as duplicate")
	}
	evs := migrationstest.OutboxEvents(t, e.pool)
	if len(evs) != 1 || evs[0].Type != events.UserCreated {
		t.Fatalf("outbox = %+v, want one user.created", evs)
	}
	ev := evs[0]
	if ev.User.Email != "John@Example.com" || ev.User.Username != "John" || ev.User.UID == "" ||
		ev.VerifyExpiresAt == nil || !ev.VerifyExpiresAt.Equal(e.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("event = %+v", ev)
	}
	tok := tokenOf(t, ev)
	if len(tok) != 43 {
		t.Fatalf("token %q is not 32 bytes in base64url", tok)
	}
	// Only the SHA-256 of the token is stored, never the token itself.
	if n := e.count(t, `SELECT count(*) FROM verification_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'`, tok); n != 0 {
		t.Fatal("token stored in clear")
	}
	if n := e.count(t, `SELECT count(*) FROM users WHERE password_hash LIKE '$argon2id$%'`); n != 1 {
		t.Fatal("password not stored as an argon2id hash")
	}

	// Unverified: the right password is a 403, the wrong one a 401.
	if _, err := e.svc.Login(ctx, auth.Login{Email: "john@example.com", Password: "s3cret-pass"}); !errors.Is(err, auth.ErrNotVerified) {
		t.Fatalf("login before verification: %v, want ErrNotVerified", err)
	}
	if _, err := e.svc.Login(ctx, auth.Login{Email: "john@example.com", Password: "wrong-pass"}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("login with a wrong password: %v, want ErrInvalidCredentials", err)
	}

	if res, err := e.svc.Verify(ctx, tok); err != nil || res != auth.Verified {
		t.Fatalf("Verify = %v, %v; want Verified", res, err)
	}
	// A second click (or a mail scanner's first) still succeeds.
	if res, err := e.svc.Verify(ctx, tok); err != nil || res != auth.AlreadyVerified {
		t.Fatalf("second Verify = %v, %v; want AlreadyVerified", res, err)
	}
	uid, err := e.svc.Login(ctx, auth.Login{Email: "JOHN@example.COM", Password: "s3cret-pass"})
	if err != nil || uid != ev.User.UID {
		t.Fatalf("Login = %q, %v; want the uid of the event %q", uid, err, ev.User.UID)
	}
	// After the lifetime even a used token is invalid.
	e.clock.Add(24 * time.Hour)
	if _, err := e.svc.Verify(ctx, tok); !errors.Is(err, auth.ErrTokenExpired) || !errors.Is(err, auth.ErrTokenInvalid) {
		t.Fatalf("Verify after expiry: %v, want ErrTokenExpired (an ErrTokenInvalid)", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	signup(t, e, "a", "a@example.com", "s3cret-pass")
	tok := tokenOf(t, migrationstest.OutboxEvents(t, e.pool)[0])
	for _, bad := range []string{"", "x", "resend", strings.Repeat("A", 43), tok + "A", tok[:42], "../../etc/passwd"} {
		if _, err := e.svc.Verify(ctx, bad); !errors.Is(err, auth.ErrTokenInvalid) {
			t.Errorf("Verify(%q) = %v, want ErrTokenInvalid", bad, err)
		}
	}
	e.clock.Add(24*time.Hour + time.Second)
	if _, err := e.svc.Verify(ctx, tok); !errors.Is(err, auth.ErrTokenExpired) {
		t.Fatalf("Verify of an expired unused token = %v, want ErrTokenExpired", err)
	}
}

func TestResendRevokesOlderTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	signup(t, e, "a", "a@example.com", "s3cret-pass")
	if err := e.svc.Resend(ctx, "A@EXAMPLE.com"); err != nil {
		t.Fatal(err)
	}
	// Unknown addresses: no error, nothing written.
	if err := e.svc.Resend(ctx, "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	evs := migrationstest.OutboxEvents(t, e.pool)
	if len(evs) != 2 || evs[1].Type != events.VerificationRequested || evs[1].User.UID != evs[0].User.UID {
		t.Fatalf("outbox = %+v, want user.created then user.verification_requested for the same uid", evs)
	}
	first, second := tokenOf(t, evs[0]), tokenOf(t, evs[1])
	if _, err := e.svc.Verify(ctx, first); !errors.Is(err, auth.ErrTokenInvalid) {
		t.Fatalf("Verify of the revoked token = %v, want ErrTokenInvalid", err)
	}
	if res, err := e.svc.Verify(ctx, second); err != nil || res != auth.Verified {
		t.Fatalf("Verify of the new token = %v, %v", res, err)
	}
	// Verified: resend writes nothing.
	if err := e.svc.Resend(ctx, "a@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := len(migrationstest.OutboxEvents(t, e.pool)); n != 2 {
		t.Fatalf("resend for a verified account wrote an event (%d in outbox)", n)
	}
}

func TestSignupOfAnExistingAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	signup(t, e, "first", "a@example.com", "s3cret-pass")
	// Unverified: no second account; a new link, the old one revoked.
	if res := signup(t, e, "second", "A@Example.COM", "other-pass"); !res.Duplicate {
		t.Fatal("second signup not reported as duplicate")
	}
	evs := migrationstest.OutboxEvents(t, e.pool)
	if len(evs) != 2 || evs[1].Type != events.VerificationRequested || evs[1].User.Username != "first" || evs[1].User.Email != "a@example.com" {
		t.Fatalf("outbox = %+v, want a verification_requested for the existing account", evs)
	}
	if n := e.count(t, `SELECT count(*) FROM users`); n != 1 {
		t.Fatalf("%d accounts, want 1", n)
	}
	if _, err := e.svc.Verify(ctx, tokenOf(t, evs[0])); !errors.Is(err, auth.ErrTokenInvalid) {
		t.Fatalf("old token after repeated signup: %v, want ErrTokenInvalid", err)
	}
	if _, err := e.svc.Verify(ctx, tokenOf(t, evs[1])); err != nil {
		t.Fatal(err)
	}
	// The password of the repeated signup was not taken.
	if _, err := e.svc.Login(ctx, auth.Login{Email: "a@example.com", Password: "other-pass"}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("login with the second signup's password: %v", err)
	}
	// Verified: the owner is told; no token.
	signup(t, e, "third", "a@example.com", "third-pass")
	evs = migrationstest.OutboxEvents(t, e.pool)
	last := evs[len(evs)-1]
	if last.Type != events.SignupDuplicate || last.VerifyURL != "" || last.User.UID != evs[0].User.UID {
		t.Fatalf("last event = %+v, want user.signup_duplicate without a link", last)
	}
	if n := e.count(t, `SELECT count(*) FROM verification_tokens`); n != 2 {
		t.Fatalf("%d tokens, want 2 (a verified account gets no new token)", n)
	}
}

func TestLoginLockoutAndReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	signup(t, e, "a", "a@example.com", "s3cret-pass")
	if _, err := e.svc.Verify(ctx, tokenOf(t, migrationstest.OutboxEvents(t, e.pool)[0])); err != nil {
		t.Fatal(err)
	}
	login := func(email, pw string) error {
		_, err := e.svc.Login(ctx, auth.Login{Email: email, Password: pw})
		return err
	}
	for _, email := range []string{"A@example.com", "nobody@example.com"} { // existing or not: same behaviour
		t.Run(email, func(t *testing.T) {
			for i := range 3 {
				if err := login(email, "wrong"); !errors.Is(err, auth.ErrInvalidCredentials) {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			var locked *auth.LockedError
			// Locked: even the right password is refused, with a retry time.
			if err := login(email, "s3cret-pass"); !errors.As(err, &locked) || locked.RetryAfter != time.Minute {
				t.Fatalf("after 3 failures: %v, want locked for 1m", err)
			}
			e.clock.Add(time.Minute)
			if err := login(email, "wrong"); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("after the lock: %v", err)
			}
			if err := login(email, "wrong"); !errors.As(err, &locked) || locked.RetryAfter != 2*time.Minute {
				t.Fatalf("one more failure: %v, want locked for 2m", err)
			}
			e.clock.Add(2 * time.Minute)
		})
	}
	if err := login("a@example.com", "s3cret-pass"); err != nil {
		t.Fatalf("right password after the lock ran out: %v", err)
	}
	// Reset: the count starts again from zero.
	for range 2 {
		_ = login("a@example.com", "wrong")
	}
	if err := login("a@example.com", "s3cret-pass"); err != nil {
		t.Fatalf("2 failures after a reset locked the account: %v", err)
	}
	if got := counter(t, e.reg, "kairos_login_lockouts_total", "kind", "source"); got != 4 {
		t.Fatalf("lockouts = %v, want 4", got)
	}
}

func TestLoginRehashesWeakerHashes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	ctx := context.Background()
	signup(t, e, "a", "a@example.com", "s3cret-pass")
	if _, err := e.svc.Verify(ctx, tokenOf(t, migrationstest.OutboxEvents(t, e.pool)[0])); err != nil {
		t.Fatal(err)
	}
	// A service configured with stronger parameters upgrades the hash on
	// the next successful login.
	stronger := passhash.Params{MemoryKiB: 128, Time: 2, Parallelism: 1}
	svc, err := auth.New(postgres.New(e.pool), newHasher(t, stronger, nil),
		auth.Config{VerifyURL: verifyURL, TokenTTL: time.Hour, MaxLoginFailures: 3, MaxAccountFailures: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, auth.Login{Email: "a@example.com", Password: "s3cret-pass"}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM users WHERE password_hash LIKE '$argon2id$v=19$m=128,t=2,p=1$%'`); n != 1 {
		t.Fatal("hash not upgraded to the configured parameters")
	}
	if _, err := svc.Login(ctx, auth.Login{Email: "a@example.com", Password: "s3cret-pass"}); err != nil {
		t.Fatalf("login after the rehash: %v", err)
	}
}

// hangUp is the real hasher, and the client hangs up (its context is
// cancelled) while the password is being checked.
type hangUp struct {
	*hashing.Hasher
	cancel context.CancelFunc
}

func (h hangUp) Verify(ctx context.Context, password, encoded string) (bool, bool, error) {
	defer h.cancel()
	return h.Hasher.Verify(ctx, password, encoded)
}

// Once the password has been checked, what follows is written even if the
// client has gone: the right password still resets the failure count (so a
// hang-up cannot leave the account nearer a lock), and a wrong one still
// counts (so hanging up cannot hide a guess).
func TestHungUpLoginStillSettles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cheap)
	signup(t, e, "a", "a@example.com", "s3cret-pass")
	if _, err := e.svc.Verify(context.Background(), tokenOf(t, migrationstest.OutboxEvents(t, e.pool)[0])); err != nil {
		t.Fatal(err)
	}
	login := func(pw string) error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		svc, err := auth.New(postgres.New(e.pool), hangUp{e.hasher, cancel},
			auth.Config{VerifyURL: verifyURL, TokenTTL: time.Hour, MaxLoginFailures: 3, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Login(ctx, auth.Login{Email: "a@example.com", Password: pw})
		return err
	}
	failures := func() int {
		return e.count(t, `SELECT coalesce(sum(failures), 0)::int FROM login_throttle WHERE email = 'a@example.com'`)
	}
	for i := range 2 {
		if err := login("wrong"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("hung-up wrong password %d: %v", i, err)
		}
	}
	if n := failures(); n != 2 {
		t.Fatalf("%d failures counted after two hung-up guesses, want 2", n)
	}
	if err := login("s3cret-pass"); err != nil {
		t.Fatalf("hung-up right password: %v", err)
	}
	if n := failures(); n != 0 {
		t.Fatalf("%d failures left after a hung-up successful login, want the reset", n)
	}
}
