package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/kairos-platform/identity/tools/internal/stack"
)

// TestSignupWalk is the README's walk through both real services: signup →
// exactly one email, whose link verifies → login, whose auth_id is the uid
// the Agent was created with, called with the service token.
func TestSignupWalk(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{Log: testLog{t}})
	if err != nil {
		t.Fatalf("start the services: %v", err)
	}
	t.Cleanup(s.Close)
	api := s.Auth[0].URL()
	const email, password = "walker@example.com", "a-walk-in-the-park-42"

	expectStatus(t, post(t, api+"/api/signup/", map[string]string{"username": "walker", "email": email, "password": password}), http.StatusOK, "signup")
	token := waitForToken(ctx, t, s.SMTP, email)
	if r := get(t, api+"/api/verify/"+token+"/"); r.status != http.StatusOK || r.body != "{\"message\":\"Email verified\"}\n" {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	r := post(t, api+"/api/login/", map[string]string{"email": email, "password": password})
	expectStatus(t, r, http.StatusOK, "login")
	var login struct {
		Message string `json:"message"`
		AuthID  string `json:"auth_id"`
	}
	if err := json.Unmarshal([]byte(r.body), &login); err != nil || login.Message != "Login successful" || login.AuthID == "" {
		t.Fatalf("login body %s (%v)", r.body, err)
	}

	actx, acancel := context.WithTimeout(ctx, time.Minute)
	defer acancel()
	users, err := s.Agent.WaitForUsers(actx, 1)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := users[login.AuthID]
	if !ok || u.Email != email || u.Username != "walker" {
		t.Fatalf("the Agent has %v; want the user %s (%s)", users, login.AuthID, email)
	}
	for _, c := range s.Agent.Calls() {
		if c.Token != stack.AgentToken {
			t.Errorf("Agent call for %s carried token %q, want the configured service token", c.UID, c.Token)
		}
	}
	if n := len(s.SMTP.Messages()); n != 1 {
		t.Errorf("%d emails for one signup, want 1", n)
	}
}
