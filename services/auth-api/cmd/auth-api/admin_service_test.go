package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/testkit"
)

const adminToken = "s3cr3t-admin-token-of-32-chars-at-least"

// tokenFile writes an ADMIN_API_TOKEN_FILE naming "alice".
func tokenFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin-tokens")
	if err := os.WriteFile(path, []byte("# operators\nalice:"+adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// adminCall sends a request to base (the admin or the public listener).
func adminCall(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	code, _, body := send(t, method, url, token, "")
	return code, body
}

// The admin API through run: only on the admin port, only with a token
// (401s counted), and a disable there revokes the user's access token on
// the replica's own check at once; the CLI sees and audits the same.
func TestAdminAPIAndCLI(t *testing.T) {
	t.Parallel()
	ns := natstest.New(t)
	db := migrationstest.NewDatabase(t)
	s := start(t, map[string]string{"DATABASE_URL": db, "NATS_URL": ns.URL(), "ADMIN_API_TOKEN_FILE": tokenFile(t)})
	verifiedAccount(t, s, ns.URL(), "ada@example.com", 1)
	login := logIn(t, s, "ada@example.com")

	if code, body := adminCall(t, "GET", s.api+"/admin/v1/users", adminToken); code != 404 {
		t.Fatalf("the admin API on the public listener: %d %s", code, body)
	}
	for _, tok := range []string{"", "wrong", adminToken + "x"} {
		if code, body := adminCall(t, "GET", s.admin+"/admin/v1/users", tok); code != 401 || !strings.Contains(body, `"message"`) {
			t.Fatalf("token %q: %d %s, want a JSON 401", tok, code, body)
		}
	}
	code, body := adminCall(t, "GET", s.admin+"/admin/v1/users?query=ADA", adminToken)
	var page struct {
		Users []struct{ UID, Email, Status string }
	}
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil || len(page.Users) != 1 || page.Users[0].Status != "verified" {
		t.Fatalf("list: %d %s", code, body)
	}
	uid := page.Users[0].UID
	if code, body := adminCall(t, "POST", s.admin+"/admin/v1/users/"+uid+"/disable", adminToken); code != 200 {
		t.Fatalf("disable: %d %s", code, body)
	}
	if code := s.check(t, login.AccessToken); code != 401 {
		t.Fatalf("check right after disable: %d, want 401", code)
	}
	if code, body := s.post(t, "/api/login/", `{"email":"ada@example.com","password":"correct-horse-42"}`); code != 401 || body != `{"message":"Invalid credentials"}` {
		t.Fatalf("login of a disabled user: %d %s, want the wrong-password answer", code, body)
	}
	testkit.Eventually(t, "the metrics", func() bool {
		_, m := s.get(t, s.admin+"/metrics")
		return strings.Contains(m, `kairos_admin_auth_failures_total{reason="missing"} 1`) &&
			strings.Contains(m, `kairos_admin_auth_failures_total{reason="invalid"} 2`) &&
			strings.Contains(m, `kairos_admin_actions_total{action="disable",outcome="ok"} 1`)
	})

	// The CLI on the same database: the same user, disabled; enable it
	// and the API's audit shows both operators.
	cli := func(args ...string) string {
		t.Helper()
		var out strings.Builder
		env := getenvFrom(map[string]string{"DATABASE_URL": db})
		if err := run(context.Background(), append([]string{"auth-api", "admin"}, args...), env, &out); err != nil {
			t.Fatalf("auth-api admin %v: %v", args, err)
		}
		return out.String()
	}
	if out := cli("users", "list", "--status", "disabled", "--actor", "bob"); !strings.Contains(out, uid) || !strings.Contains(out, "STATUS") {
		t.Fatalf("cli list:\n%s", out)
	}
	if out := cli("users", "enable", uid, "--actor", "bob"); !strings.Contains(out, "enabled "+uid) {
		t.Fatalf("cli enable: %s", out)
	}
	var detail struct {
		Status      string
		RecentAudit []struct{ Actor, Action string } `json:"recent_audit"`
	}
	if err := json.Unmarshal([]byte(cli("users", "show", uid, "--json", "--actor", "bob")), &detail); err != nil || detail.Status != "verified" {
		t.Fatalf("cli show: %+v %v", detail, err)
	}
	code, body = adminCall(t, "GET", s.admin+"/admin/v1/audit?uid="+uid+"&since=1h", adminToken)
	for _, want := range []string{`"actor":"cli:bob","action":"user.enabled"`, `"actor":"api:alice","action":"user.disabled"`,
		`"actor":"api:alice","action":"sessions.revoked"`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("audit lacks %s: %d %s", want, code, body)
		}
	}
	logIn(t, s, "ada@example.com")
	if err := run(context.Background(), []string{"auth-api", "admin", "users", "delete", "00000000-0000-4000-8000-000000000000", "--actor", "bob"},
		getenvFrom(map[string]string{"DATABASE_URL": db}), io.Discard); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("cli delete of an unknown uid: %v", err)
	}
	if !strings.Contains(s.logs.String(), `"msg":"audit","actor":"api:alice","action":"user.disabled"`) {
		t.Error("no audit log line for the disable")
	}
	if strings.Contains(s.logs.String(), adminToken) {
		t.Fatal("the admin token was logged")
	}
}

// Without a token file the admin API is off, and says so.
func TestAdminAPIOffWithoutTokens(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"DATABASE_URL": migrationstest.NewDatabase(t), "NATS_URL": natstest.New(t).URL()})
	if code, _ := adminCall(t, "GET", s.admin+"/admin/v1/users", adminToken); code != 404 {
		t.Fatalf("admin API without tokens: %d, want 404", code)
	}
	if !strings.Contains(s.logs.String(), "the admin API (/admin/v1/) is off") {
		t.Fatal("no start-up line saying the admin API is off")
	}
}

// Every verb of `auth-api admin` on a real database, as an operator types
// it: each prints its line and leaves its audit row naming cli:<actor>.
func TestAdminCLIVerbs(t *testing.T) {
	t.Parallel()
	db := migrationstest.NewDatabase(t)
	env := getenvFrom(map[string]string{"DATABASE_URL": db})
	cli := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), append([]string{"auth-api", "admin"}, args...), env, &out)
		return out.String(), err
	}
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	const uid = "6f1c0c3e-8d0e-4c36-a3c2-5b7f4a1e9d01"
	if _, err := conn.Exec(context.Background(), `INSERT INTO users (uid, username, email, password_hash) VALUES ($1, 'ops', 'ops@example.com', 'x')`, uid); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		verb, printed, audit string
	}{
		{"resend-verification", "verification link sent to " + uid, "verification.resent"},
		{"verify", "verified " + uid, "user.verified"},
		{"disable", "disabled (every session revoked) " + uid, "user.disabled"},
		{"enable", "enabled " + uid, "user.enabled"},
		{"unlock", "login lockout cleared for " + uid, "login.unlocked"},
		{"sign-out", "every session revoked for " + uid, "sessions.revoked"},
		{"delete", "deleted " + uid, "user.deleted"},
	} {
		out, err := cli("users", c.verb, uid, "--actor", "jane")
		if err != nil || strings.TrimSpace(out) != c.printed {
			t.Fatalf("%s: %q, %v; want %q", c.verb, out, err, c.printed)
		}
		out, err = cli("audit", "--uid", uid, "--action", c.audit, "--actor", "jane")
		if err != nil || !strings.Contains(out, "cli:jane") || !strings.Contains(out, c.audit) {
			t.Fatalf("audit after %s: %q, %v", c.verb, out, err)
		}
	}
	if _, err := cli("users", "show"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("show without a uid: %v", err)
	}
	if _, err := cli("users", "list", "--status", "gone", "--actor", "jane"); err == nil || !strings.Contains(err.Error(), "--status") {
		t.Fatalf("a bad status: %v", err)
	}
}
