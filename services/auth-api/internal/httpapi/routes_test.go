package httpapi_test

import (
	"net/url"
	"testing"

	"github.com/kairos-platform/identity/migrations/migrationstest"

	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
)

// The link in a verification email is PUBLIC_URL plus the verify route, and
// the API answers it.
func TestVerifyURLIsTheVerifyRoute(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"https://id.example.com", "https://id.example.com/"} {
		if got := httpapi.VerifyURL(base)("abc-_9"); got != "https://id.example.com/api/verify/abc-_9/" {
			t.Errorf("VerifyURL(%q) = %q", base, got)
		}
	}
	h := newHarness(t)
	h.signup(t, "a", "a@example.com", goodPassword)
	evs := migrationstest.OutboxEvents(t, h.pool)
	u, err := url.Parse(evs[len(evs)-1].VerifyURL)
	if err != nil {
		t.Fatal(err)
	}
	if rec := h.do(t, request{method: "GET", path: u.Path}); rec.Code != 200 || body(rec) != `{"message":"Email verified"}` {
		t.Fatalf("GET %s: %d %s", u.Path, rec.Code, body(rec))
	}
}
