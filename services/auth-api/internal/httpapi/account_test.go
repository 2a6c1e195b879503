package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
)

func TestPasswordChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mine := h.signedIn(t, "pc@example.com")
	other := h.logIn(t, "pc@example.com")

	for _, tt := range []struct{ body, want string }{
		{`{"current_password":"wrong-password","new_password":"brand-new-pass-1"}`, `{"current_password":["Incorrect password."]}`},
		{`{"current_password":"` + goodPassword + `","new_password":"short"}`, `{"new_password":["Ensure this field has at least 8 characters."]}`},
	} {
		if code, b, _ := h.bearer(t, "POST", "/api/password/change/", mine.AccessToken, tt.body); code != 400 || b != tt.want {
			t.Errorf("%s: %d %s", tt.body, code, b)
		}
	}
	if code, _, _ := h.bearer(t, "POST", "/api/password/change/", "not-a-token", `{}`); code != 401 {
		t.Errorf("without a valid token: %d", code)
	}
	code, b, _ := h.bearer(t, "POST", "/api/password/change/", mine.AccessToken,
		`{"current_password":"`+goodPassword+`","new_password":"brand-new-pass-1"}`)
	if code != 200 || b != `{"message":"Password changed."}` {
		t.Fatalf("change: %d %s", code, b)
	}
	// The other session is over; this one goes on.
	if code, _ := h.refresh(t, other.RefreshToken); code != 401 {
		t.Errorf("other session's refresh: %d, want 401", code)
	}
	if code, _ := h.refresh(t, mine.RefreshToken); code != 200 {
		t.Errorf("own session's refresh: %d, want 200", code)
	}
	if rec := h.login(t, "pc@example.com", "brand-new-pass-1"); rec.Code != 200 {
		t.Errorf("login with the new password: %d", rec.Code)
	}
	if n := h.count(t, `SELECT count(*) FROM outbox WHERE subject = 'user.password_changed'`); n != 1 {
		t.Errorf("%d user.password_changed events", n)
	}
}

func TestEmailChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	me := h.signedIn(t, "old@example.com")
	h.signup(t, "other", "taken@example.com", goodPassword)

	change := func(newEmail string) (int, string) {
		code, b, _ := h.bearer(t, "POST", "/api/email/change/", me.AccessToken,
			`{"password":"`+goodPassword+`","new_email":`+quote(newEmail)+`}`)
		return code, b
	}
	// A taken address answers like a free one, and nothing is sent.
	c1, b1 := change("Taken@example.com")
	c2, b2 := change("new@example.com")
	if c1 != 200 || c1 != c2 || b1 != b2 {
		t.Fatalf("taken vs free: %d %s vs %d %s", c1, b1, c2, b2)
	}
	var confirm events.Event
	n := 0
	for _, ev := range migrationstest.OutboxEvents(t, h.pool) {
		if ev.Type == events.EmailChangeRequested {
			confirm, n = ev, n+1
		}
	}
	if n != 1 || confirm.NewEmail != "new@example.com" || confirm.User.Email != "old@example.com" {
		t.Fatalf("%d change events, last %+v", n, confirm)
	}
	tok, ok := strings.CutPrefix(confirm.ConfirmURL, "http://localhost:8080/api/email/confirm/")
	if !ok {
		t.Fatalf("confirm_url %q", confirm.ConfirmURL)
	}
	rec := h.do(t, request{method: "GET", path: "/api/email/confirm/" + tok})
	if rec.Code != 200 || body(rec) != `{"message":"Email address changed"}` {
		t.Fatalf("confirm: %d %s", rec.Code, body(rec))
	}
	// A second click (after a mail scanner's first) still succeeds, and
	// changes nothing more.
	if rec := h.do(t, request{method: "GET", path: "/api/email/confirm/" + tok}); rec.Code != 200 {
		t.Fatalf("second confirm: %d %s", rec.Code, body(rec))
	}
	if n := h.count(t, `SELECT count(*) FROM outbox WHERE subject = 'user.email_changed'`); n != 1 {
		t.Fatalf("%d user.email_changed events, want 1", n)
	}
	if rec := h.do(t, request{method: "GET", path: "/api/email/confirm/" + strings.Repeat("A", 43)}); rec.Code != 400 || body(rec) != `{"message":"Invalid token"}` {
		t.Fatalf("unknown token: %d %s", rec.Code, body(rec))
	}
	if rec := h.login(t, "new@example.com", goodPassword); rec.Code != 200 {
		t.Fatalf("login with the new address: %d", rec.Code)
	}
	if rec := h.login(t, "old@example.com", goodPassword); rec.Code != 401 {
		t.Fatalf("login with the old address: %d", rec.Code)
	}
	var changed events.Event
	for _, ev := range migrationstest.OutboxEvents(t, h.pool) {
		if ev.Type == events.EmailChanged {
			changed = ev
		}
	}
	if changed.User.Email != "new@example.com" || changed.PreviousEmail != "old@example.com" {
		t.Fatalf("user.email_changed %+v", changed)
	}
	// A browser gets a page.
	rec = h.do(t, request{method: "GET", path: "/api/email/confirm/bogus/", header: browser})
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "not valid") {
		t.Fatalf("confirm page: %d %s", rec.Code, rec.Body)
	}
	checkPage(t, rec, "confirm page")
}

func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	me := h.signedIn(t, "bye@example.com")
	if code, b, _ := h.bearer(t, "DELETE", "/api/me", me.AccessToken, `{"password":"wrong-password"}`); code != 400 ||
		b != `{"password":["Incorrect password."]}` {
		t.Fatalf("wrong password: %d %s", code, b)
	}
	if code, b, _ := h.bearer(t, "DELETE", "/api/me", me.AccessToken, `{"password":"`+goodPassword+`"}`); code != http.StatusNoContent || b != "" {
		t.Fatalf("delete: %d %s", code, b)
	}
	if n := h.count(t, `SELECT count(*) FROM users`); n != 0 {
		t.Fatalf("%d users left", n)
	}
	if code, _ := h.refresh(t, me.RefreshToken); code != 401 {
		t.Errorf("refresh after deletion: %d", code)
	}
	if rec := h.login(t, "bye@example.com", goodPassword); rec.Code != 401 {
		t.Errorf("login after deletion: %d", rec.Code)
	}
	var deleted events.Event
	for _, ev := range migrationstest.OutboxEvents(t, h.pool) {
		if ev.Type == events.UserDeleted {
			deleted = ev
		}
	}
	if deleted.User.Email != "bye@example.com" {
		t.Fatalf("user.deleted %+v", deleted)
	}
	if n := h.count(t, `SELECT count(*) FROM outbox WHERE subject = 'session.revoked'`); n < 1 {
		t.Error("no session.revoked")
	}
}

// A wrong password on a signed-in change counts against the lockout of the
// request's source, like a login: that source is locked, the owner's other
// networks are not.
func TestAccountPasswordLocksItsSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	me := h.signedIn(t, "src@example.com")
	del := func(password, remote string) *httptest.ResponseRecorder {
		return h.do(t, request{method: "DELETE", path: "/api/me/", body: `{"password":` + quote(password) + `}`, remote: remote,
			header: http.Header{"Authorization": {"Bearer " + me.AccessToken}}})
	}
	for i := range 5 { // the harness's MaxLoginFailures
		if rec := del("wrong-password", "198.51.100.7:4000"); rec.Code != 400 {
			t.Fatalf("wrong password %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	if rec := del(goodPassword, "198.51.100.7:4000"); rec.Code != 429 {
		t.Errorf("right password from the locked source: %d %s, want 429", rec.Code, rec.Body)
	}
	if rec := h.login(t, "src@example.com", goodPassword); rec.Code != 200 {
		t.Errorf("login from another source: %d %s", rec.Code, rec.Body)
	}
	if rec := del(goodPassword, "203.0.113.5:4000"); rec.Code != 204 {
		t.Errorf("deletion from another source: %d %s", rec.Code, rec.Body)
	}
}
