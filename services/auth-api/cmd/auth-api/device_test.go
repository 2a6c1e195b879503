package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/natstest"
)

// With DEVICE_COOKIE_KEY_FILE a login sets the device cookie; without it
// auth-api still starts, and says what that costs.
func TestDeviceCookieWiring(t *testing.T) {
	t.Parallel()
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := natstest.New(t)
	s := start(t, map[string]string{"DATABASE_URL": migrationstest.NewDatabase(t), "NATS_URL": ns.URL(), "DEVICE_COOKIE_KEY_FILE": keys})
	if code, body := s.post(t, "/api/signup/", `{"username":"a","email":"a@example.com","password":"correct-horse-42"}`); code != 200 {
		t.Fatalf("signup: %d %s", code, body)
	}
	evs, _ := streamEvents(t, ns.URL(), 1)
	if code, _ := s.get(t, s.api+"/api/verify/"+tokenFrom(t, evs[0].VerifyURL)); code != 200 {
		t.Fatalf("verify: %d", code)
	}
	resp, err := http.Post(s.api+"/api/login/", "application/json", strings.NewReader(`{"email":"a@example.com","password":"correct-horse-42"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if set := resp.Header.Get("Set-Cookie"); resp.StatusCode != 200 || !strings.HasPrefix(set, "kairos_device="+evs[0].User.UID+".") {
		t.Fatalf("login: %d, Set-Cookie %q", resp.StatusCode, set)
	}
	if strings.Contains(s.logs.String(), "DEVICE_COOKIE_KEY_FILE is unset") {
		t.Fatal("warned about a key file that is set")
	}

	without := start(t, map[string]string{"DATABASE_URL": migrationstest.NewDatabase(t), "NATS_URL": ns.URL()})
	if !strings.Contains(without.logs.String(), "DEVICE_COOKIE_KEY_FILE is unset") {
		t.Fatalf("no warning without a key file:\n%s", without.logs)
	}
}
