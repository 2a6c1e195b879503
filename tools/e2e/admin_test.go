package e2e_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// TestAdminDeletion is the operators' deletion through both real services,
// as DELETE /api/me is in tools/faults: the admin API (on the admin port
// only) disables a signed-in user, whose access token is refused at once,
// then deletes them; the notifier removes them from the Agent and mails the
// goodbye, and the audit trail names the token's owner.
func TestAdminDeletion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{Log: testLog{t}})
	if err != nil {
		t.Fatalf("start the services: %v", err)
	}
	t.Cleanup(s.Close)
	api, adm := s.Auth[0].URL(), s.Auth[0].AdminURL()
	const email, password = "leaving@example.com", "an-operator-removes-me-42"
	call := func(method, url, token string) response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return readResponse(t, resp)
	}

	expectStatus(t, post(t, api+"/api/signup/", map[string]string{"username": "leaver", "email": email, "password": password}), http.StatusOK, "signup")
	expectStatus(t, get(t, api+"/api/verify/"+waitForToken(ctx, t, s.SMTP, email)+"/"), http.StatusOK, "verify")
	r := post(t, api+"/api/login/", map[string]string{"email": email, "password": password})
	expectStatus(t, r, http.StatusOK, "login")
	access := regexp.MustCompile(`"access_token":"([^"]+)"`).FindStringSubmatch(r.body)
	uid := regexp.MustCompile(`"auth_id":"([^"]+)"`).FindStringSubmatch(r.body)
	if access == nil || uid == nil {
		t.Fatalf("login body %s", r.body)
	}
	if _, err := s.Agent.WaitForUsers(ctx, 1); err != nil {
		t.Fatal(err)
	}

	expectStatus(t, call("GET", api+"/admin/v1/users", stack.AdminToken), http.StatusNotFound, "the admin API on the public listener")
	expectStatus(t, call("GET", adm+"/admin/v1/users", ""), http.StatusUnauthorized, "the admin API without a token")
	expectStatus(t, call("POST", adm+"/admin/v1/users/"+uid[1]+"/disable", stack.AdminToken), http.StatusOK, "disable")
	expectStatus(t, call("GET", api+"/api/auth/check", access[1]), http.StatusUnauthorized, "check after disable")
	expectStatus(t, call("DELETE", adm+"/admin/v1/users/"+uid[1], stack.AdminToken), http.StatusNoContent, "delete")

	actx, acancel := context.WithTimeout(ctx, time.Minute)
	defer acancel()
	if err := s.Agent.WaitFor(actx, func(u map[string]agenttest.User) bool { _, ok := u[uid[1]]; return !ok }); err != nil {
		t.Fatalf("the deletion never reached the Agent: %v", err)
	}
	for n := 2; ; n++ {
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		msgs, err := s.SMTP.WaitFor(wctx, n)
		wcancel()
		if err != nil {
			t.Fatalf("no goodbye email: %v", err)
		}
		if strings.Contains(msgs[n-1].Text, "account was deleted") {
			break
		}
	}
	audit := call("GET", adm+"/admin/v1/audit?uid="+uid[1], stack.AdminToken)
	for _, want := range []string{`"actor":"api:e2e","action":"user.deleted"`, `"actor":"api:e2e","action":"user.disabled"`} {
		if audit.status != http.StatusOK || !strings.Contains(audit.body, want) {
			t.Fatalf("audit lacks %s: %d %s", want, audit.status, audit.body)
		}
	}
}
