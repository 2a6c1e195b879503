package agenttest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/pkg/agenttest"
)

func TestAgentFake(t *testing.T) {
	a := agenttest.Start("secret")
	defer a.Close()
	post := func(uid, token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, a.URL+"/users/"+uid, strings.NewReader(body))
		req.Header.Set("X-Service-Token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"uid":"u1","username":"n","email":"e@x"}`
	a.FailNext(503)
	tests := []struct {
		name, uid, token, body string
		want                   int
	}{
		{"injected failure", "u1", "secret", body, 503},
		{"created", "u1", "secret", body, 201},
		{"repeat is idempotent", "u1", "secret", body, 200},
		{"wrong token", "u1", "nope", body, 401},
		{"uid mismatch", "u2", "secret", body, 400},
	}
	for _, tt := range tests {
		if got := post(tt.uid, tt.token, tt.body); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
	if n := len(a.Users()); n != 1 {
		t.Errorf("users = %d, want 1", n)
	}
	if n := len(a.Calls()); n != len(tests) {
		t.Errorf("calls = %d, want %d", n, len(tests))
	}
}
