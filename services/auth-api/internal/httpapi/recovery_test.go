package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
)

// resetTokenOf is the token of the newest reset link in the outbox.
func (h *harness) resetToken(t testing.TB) string {
	t.Helper()
	var link string
	for _, ev := range migrationstest.OutboxEvents(t, h.pool) {
		if ev.Type == events.PasswordResetRequested {
			link = ev.ResetURL
		}
	}
	tok, ok := strings.CutPrefix(link, "http://localhost:8080/reset-password?token=")
	if !ok {
		t.Fatalf("reset_url %q", link)
	}
	return tok
}

func forgotReq(email string) request {
	return request{method: "POST", path: "/api/password/forgot/", body: `{"email":` + quote(email) + `}`}
}

func resetReq(token, password string) request {
	return request{method: "POST", path: "/api/password/reset/", body: `{"token":` + quote(token) + `,"password":` + quote(password) + `}`}
}

func TestForgotResetLoginWalk(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signup(t, "ann", "ann@example.com", goodPassword)
	h.do(t, request{method: "GET", path: "/api/verify/" + h.lastToken(t) + "/"})

	// Known and unknown addresses get the same answer; only one mails.
	known, unknown := h.do(t, forgotReq("Ann@Example.com")), h.do(t, forgotReq("nobody@example.com"))
	if known.Code != 200 || known.Code != unknown.Code || body(known) != body(unknown) ||
		body(known) != `{"message":"If the account exists, a password reset email is on its way."}` {
		t.Fatalf("forgot: %d %s vs %d %s", known.Code, body(known), unknown.Code, body(unknown))
	}
	if n := h.count(t, `SELECT count(*) FROM outbox WHERE subject = 'user.password_reset_requested'`); n != 1 {
		t.Fatalf("%d reset events, want 1", n)
	}
	tok := h.resetToken(t)

	for _, tt := range []struct {
		name string
		rq   request
		want string
	}{
		{"weak password", resetReq(tok, "short"), `{"password":["Ensure this field has at least 8 characters."]}`},
		{"common password", resetReq(tok, "password123"), `{"password":["This password is too common."]}`},
		{"missing fields", request{method: "POST", path: "/api/password/reset/", body: `{}`},
			`{"password":["This field is required."],"token":["This field is required."]}`},
		{"unknown token", resetReq(strings.Repeat("A", 43), "brand-new-pass-1"), `{"message":"Invalid token"}`},
	} {
		if rec := h.do(t, tt.rq); rec.Code != 400 || body(rec) != tt.want {
			t.Errorf("%s: %d %s, want 400 %s", tt.name, rec.Code, body(rec), tt.want)
		}
	}
	if rec := h.do(t, resetReq(tok, "brand-new-pass-1")); rec.Code != 200 {
		t.Fatalf("reset: %d %s", rec.Code, body(rec))
	}
	if rec := h.do(t, resetReq(tok, "another-pass-2")); rec.Code != 400 || body(rec) != `{"message":"Invalid token"}` {
		t.Fatalf("reuse: %d %s", rec.Code, body(rec))
	}
	if rec := h.login(t, "ann@example.com", "brand-new-pass-1"); rec.Code != 200 {
		t.Fatalf("login with the new password: %d %s", rec.Code, body(rec))
	}
	if rec := h.login(t, "ann@example.com", goodPassword); rec.Code != 401 {
		t.Fatalf("login with the old password: %d", rec.Code)
	}
	if got := h.metric(t, "kairos_password_resets_total", map[string]string{"result": "ok"}); got != 1 {
		t.Errorf("resets counted %v", got)
	}
}

// The per-address budget is shared by every kind of mail and invisible to
// the caller.
func TestMailBudgetIsInvisible(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signup(t, "bo", "bo@example.com", goodPassword)
	var first string
	for i := range 7 {
		rq := forgotReq("bo@example.com")
		if i%2 == 1 {
			rq = request{method: "POST", path: "/api/verify/resend/", body: `{"email":"bo@example.com"}`}
		}
		rec := h.do(t, rq)
		if rec.Code != 200 {
			t.Fatalf("call %d: %d", i, rec.Code)
		}
		if i == 0 {
			first = body(rec)
		} else if i%2 == 0 && body(rec) != first {
			t.Fatalf("call %d answered %s", i, body(rec))
		}
	}
	if n := h.count(t, `SELECT count(*) FROM outbox`); n != 1+5 {
		t.Fatalf("%d events, want the creation and 5", n)
	}
	if got := h.metric(t, "kairos_mail_budget_exceeded_total", map[string]string{"kind": "forgot"}); got != 1 {
		t.Errorf("over-budget forgot counted %v, want 1", got)
	}
}

var browser = http.Header{"Accept": {"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}}

func checkPage(t *testing.T, rec interface {
	Header() http.Header
}, what string) {
	t.Helper()
	hd := rec.Header()
	csp := hd.Get("Content-Security-Policy")
	if !strings.HasPrefix(hd.Get("Content-Type"), "text/html") || !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || hd.Get("X-Frame-Options") != "DENY" || hd.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("%s: headers %v", what, hd)
	}
}

func TestOwnPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signup(t, "cy", "cy@example.com", goodPassword)
	vtok := h.lastToken(t)
	rec := h.do(t, request{method: "GET", path: "/api/verify/" + vtok + "/", header: browser})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Email verified.") {
		t.Fatalf("verify page: %d %s", rec.Code, rec.Body)
	}
	checkPage(t, rec, "verify page")
	if rec := h.do(t, request{method: "GET", path: "/api/verify/bogus/", header: browser}); rec.Code != 400 || !strings.Contains(rec.Body.String(), "not valid") {
		t.Fatalf("invalid verify page: %d %s", rec.Code, rec.Body)
	}

	h.do(t, forgotReq("cy@example.com"))
	tok := h.resetToken(t)
	rec = h.do(t, request{method: "GET", path: "/reset-password?token=" + tok, header: browser})
	page := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(page, `<label for="password">`) || !strings.Contains(page, `value="`+tok+`"`) ||
		strings.Contains(page, "<script") || strings.Contains(page, "http") {
		t.Fatalf("reset page: %d %s", rec.Code, page)
	}
	checkPage(t, rec, "reset page")

	form := func(pw, pw2 string) request {
		v := url.Values{"token": {tok}, "password": {pw}, "password2": {pw2}}
		return request{method: "POST", path: "/api/password/reset/", body: v.Encode(),
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": browser["Accept"]}}
	}
	if rec := h.do(t, form("brand-new-pass-1", "brand-new-pass-2")); rec.Code != 400 || !strings.Contains(rec.Body.String(), "differ") {
		t.Fatalf("mismatch: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do(t, form("short", "short")); rec.Code != 400 || !strings.Contains(rec.Body.String(), "at least 8") {
		t.Fatalf("weak: %d %s", rec.Code, rec.Body)
	}
	rec = h.do(t, form("brand-new-pass-1", "brand-new-pass-1"))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Password reset.") {
		t.Fatalf("form reset: %d %s", rec.Code, rec.Body)
	}
	checkPage(t, rec, "reset outcome")
	if rec := h.login(t, "cy@example.com", "brand-new-pass-1"); rec.Code != 200 {
		t.Fatalf("login: %d %s", rec.Code, body(rec))
	}
	if rec := h.do(t, request{method: "GET", path: "/reset-password?token=nonsense", header: browser}); rec.Code != 400 {
		t.Fatalf("bad link: %d", rec.Code)
	}
}
