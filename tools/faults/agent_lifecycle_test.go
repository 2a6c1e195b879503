//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

var (
	verifyPath  = regexp.MustCompile(`/api/verify/[A-Za-z0-9_-]{43}/`)
	confirmPath = regexp.MustCompile(`/api/email/confirm/[A-Za-z0-9_-]{43}/`)
)

// The fault matrix's Agent lifecycle case: the Agent answers 500 to every
// PATCH for a while and 404 to a DELETE (it lost the user). The email
// change is retried until it lands, the deletion counts as done, and
// nothing is lost or dead-lettered.
func TestAgentLifecycleFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{NotifierEnv: faultEnv(), Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	api := st.Auth[0].URL()
	const password = "a-fault-tolerant-pass-1"
	call := func(method, path, token string, body any) (int, string) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, method, api+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	mailPath := func(to string, re *regexp.Regexp) string {
		t.Helper()
		for n := 1; ; n++ {
			wctx, wcancel := context.WithTimeout(ctx, time.Minute)
			msgs, err := st.SMTP.WaitFor(wctx, n)
			wcancel()
			if err != nil {
				t.Fatalf("no mail to %s matching %s: %v", to, re, err)
			}
			if m := msgs[n-1]; strings.EqualFold(strings.Join(m.To, ","), to) {
				if p := re.FindString(m.Text); p != "" {
					return p
				}
			}
		}
	}
	signIn := func(email string) (uid, token string) {
		t.Helper()
		if code, b := call("POST", "/api/signup/", "", map[string]string{"username": "u", "email": email, "password": password}); code != 200 {
			t.Fatalf("signup: %d %s", code, b)
		}
		if code, b := call("GET", mailPath(email, verifyPath), "", nil); code != 200 {
			t.Fatalf("verify: %d %s", code, b)
		}
		code, b := call("POST", "/api/login/", "", map[string]string{"email": email, "password": password})
		var l struct {
			AuthID      string `json:"auth_id"`
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal([]byte(b), &l); err != nil || code != 200 {
			t.Fatalf("login: %d %s", code, b)
		}
		return l.AuthID, l.AccessToken
	}
	aUID, aToken := signIn("mover@example.com")
	bUID, bToken := signIn("leaver@example.com")
	if _, err := st.Agent.WaitForUsers(ctx, 2); err != nil {
		t.Fatal(err)
	}

	st.Agent.SetMethodStatus(http.MethodPatch, http.StatusInternalServerError)
	st.Agent.Forget(bUID)
	if code, b := call("POST", "/api/email/change/", aToken, map[string]string{"password": password, "new_email": "moved@example.com"}); code != 200 {
		t.Fatalf("email change: %d %s", code, b)
	}
	if code, b := call("GET", mailPath("moved@example.com", confirmPath), "", nil); code != 200 {
		t.Fatalf("confirm: %d %s", code, b)
	}
	if code, b := call("DELETE", "/api/me", bToken, map[string]string{"password": password}); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, b)
	}
	patched500 := func(map[string]agenttest.User) bool {
		n := 0
		for _, c := range st.Agent.Calls() {
			if c.Method == http.MethodPatch && c.Status == 500 {
				n++
			}
		}
		return n >= 3
	}
	pctx, pcancel := context.WithTimeout(ctx, time.Minute)
	defer pcancel()
	if err := st.Agent.WaitFor(pctx, patched500); err != nil {
		for _, c := range st.Agent.Calls() {
			t.Logf("Agent call: %s %s → %d", c.Method, c.UID, c.Status)
		}
		t.Fatal(err)
	}
	st.Agent.SetMethodStatus(http.MethodPatch, 0)
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := st.Agent.WaitFor(wctx, func(u map[string]agenttest.User) bool { return u[aUID].Email == "moved@example.com" }); err != nil {
		t.Fatalf("the email change never reached the Agent: %v", err)
	}
	var deleted404 bool
	for _, c := range st.Agent.Calls() {
		deleted404 = deleted404 || (c.Method == http.MethodDelete && c.UID == bUID && c.Status == http.StatusNotFound)
	}
	if !deleted404 {
		t.Error("no DELETE answered 404 for the deleted user")
	}
	if n := len(st.Agent.Users()); n != 1 {
		t.Errorf("the Agent has %d users, want 1", n)
	}
	// Nothing dead-lettered: the goodbye went out too.
	mailPath("leaver@example.com", regexp.MustCompile(`account was deleted`))
}
