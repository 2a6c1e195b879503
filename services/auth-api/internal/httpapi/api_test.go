package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
)

const goodPassword = "correct-horse-42"

func TestSignupVerifyLoginWalk(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if rec := h.signup(t, "johndoe", "John@Example.com", goodPassword); rec.Code != 200 ||
		body(rec) != `{"message":"Signup successful. Verify email."}` {
		t.Fatalf("signup: %d %s", rec.Code, body(rec))
	}
	if rec := h.login(t, "john@example.com", goodPassword); rec.Code != 403 || body(rec) != `{"message":"Please verify your email first"}` {
		t.Fatalf("login before verifying: %d %s", rec.Code, body(rec))
	}
	tok := h.lastToken(t)
	if rec := h.do(t, request{method: "GET", path: "/api/verify/" + tok + "/"}); rec.Code != 200 || body(rec) != `{"message":"Email verified"}` {
		t.Fatalf("verify: %d %s", rec.Code, body(rec))
	}
	// Without the trailing slash; used already: still a success.
	if rec := h.do(t, request{method: "GET", path: "/api/verify/" + tok}); rec.Code != 200 || body(rec) != `{"message":"Email already verified"}` {
		t.Fatalf("verify again: %d %s", rec.Code, body(rec))
	}
	rec := h.do(t, request{method: "POST", path: "/api/login", body: `{"email":"JOHN@example.com","password":"` + goodPassword + `","extra":1}`})
	var got struct {
		Message string `json:"message"`
		AuthID  string `json:"auth_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 || got.Message != "Login successful" ||
		got.AuthID != migrationstest.OutboxEvents(t, h.pool)[0].User.UID {
		t.Fatalf("login: %d %s", rec.Code, body(rec))
	}
	if rec := h.do(t, request{method: "GET", path: "/api/verify/" + strings.Repeat("A", 43) + "/"}); rec.Code != 400 || body(rec) != `{"message":"Invalid token"}` {
		t.Fatalf("unknown token: %d %s", rec.Code, body(rec))
	}
	// Nothing secret in the logs: no password, token or hash.
	logs := h.logs.String()
	for _, secret := range []string{goodPassword, tok, "argon2id"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain a secret (%q):\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"route":"/api/verify/{token}/"`) {
		t.Fatalf("request log lines lack the route template:\n%s", logs)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	big := `{"username":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`
	tests := []struct {
		name string
		rq   request
		code int
		body string
	}{
		{"validation: field map in DRF's shape", request{method: "POST", path: "/api/signup/", body: `{"username":"j","email":"nope","password":"correct-horse-42"}`},
			400, `{"email":["Enter a valid email address."]}`},
		{"missing fields", request{method: "POST", path: "/api/signup/", body: `{}`},
			400, `{"email":["This field is required."],"password":["This field is required."],"username":["This field is required."]}`},
		{"wrong JSON type", request{method: "POST", path: "/api/login/", body: `{"email":5,"password":"x"}`},
			400, `{"email":["Not a valid string."]}`},
		{"wrong JSON types: every such field at once", request{method: "POST", path: "/api/signup/", body: `{"username":1,"email":true,"password":["x"]}`},
			400, `{"email":["Not a valid string."],"password":["Not a valid string."],"username":["Not a valid string."]}`},
		{"wrong JSON type with other failing fields", request{method: "POST", path: "/api/signup/", body: `{"username":{},"email":"nope"}`},
			400, `{"email":["Enter a valid email address."],"password":["This field is required."],"username":["Not a valid string."]}`},
		{"wrong JSON type in an unknown field is ignored", request{method: "POST", path: "/api/login/", body: `{"Email":[],"x":5}`},
			400, `{"email":["Not a valid string."],"password":["This field is required."]}`},
		{"wrong JSON type on resend", request{method: "POST", path: "/api/verify/resend/", body: `{"email":5}`},
			400, `{"email":["Not a valid string."]}`},
		{"wrong JSON type and trailing garbage", request{method: "POST", path: "/api/login/", body: `{"email":5} x`}, 400, `{"message":"Malformed JSON."}`},
		{"common password", request{method: "POST", path: "/api/signup/", body: `{"username":"j","email":"j@example.com","password":"password123"}`},
			400, `{"password":["This password is too common."]}`},
		{"malformed JSON", request{method: "POST", path: "/api/signup/", body: `{"username":`}, 400, `{"message":"Malformed JSON."}`},
		{"two JSON values", request{method: "POST", path: "/api/login/", body: `{} {}`}, 400, `{"message":"Malformed JSON."}`},
		{"not an object", request{method: "POST", path: "/api/login/", body: `[1,2]`}, 400, `{"message":"Malformed JSON."}`},
		{"null body", request{method: "POST", path: "/api/signup/", body: `null`}, 400, `{"message":"Malformed JSON."}`},
		{"null body with spaces", request{method: "POST", path: "/api/verify/resend/", body: " \n null "}, 400, `{"message":"Malformed JSON."}`},
		{"string body", request{method: "POST", path: "/api/login/", body: `"x"`}, 400, `{"message":"Malformed JSON."}`},
		{"number body", request{method: "POST", path: "/api/login/", body: `1`}, 400, `{"message":"Malformed JSON."}`},
		{"empty body", request{method: "POST", path: "/api/login/", body: ` `}, 400, `{"message":"Malformed JSON."}`},
		// Hostile input (tools/faults): a JSON 400, nothing stored.
		{"invalid UTF-8 in username", request{method: "POST", path: "/api/signup/", body: "{\"username\":\"bad\xff\xfe\",\"email\":\"u1@example.com\",\"password\":\"correct-horse-42\"}"},
			400, bodyMessage},
		{"invalid UTF-8 in password", request{method: "POST", path: "/api/login/", body: "{\"email\":\"u2@example.com\",\"password\":\"Passw0rd-\xed\xa0\x80-long\"}"},
			400, bodyMessage},
		{"invalid UTF-8 in an unknown field", request{method: "POST", path: "/api/verify/resend/", body: "{\"email\":\"u3@example.com\",\"x\":\"\xc3\x28\"}"},
			400, bodyMessage},
		{"duplicate key", request{method: "POST", path: "/api/signup/", body: `{"username":"dup","email":"d1@example.com","email":"d2@example.com","password":"correct-horse-42"}`},
			400, bodyMessage},
		{"duplicate key differing in case", request{method: "POST", path: "/api/login/", body: `{"email":"d1@example.com","EMAIL":"d2@example.com","password":"x"}`},
			400, bodyMessage},
		{"duplicate key, escaped", request{method: "POST", path: "/api/verify/resend/", body: `{"email":"d1@example.com","\u0065mail":"d2@example.com"}`},
			400, bodyMessage},
		{"duplicate unknown key", request{method: "POST", path: "/api/verify/resend/", body: `{"email":"d1@example.com","x":1,"x":2}`},
			400, bodyMessage},
		{"same key in a nested object is fine", request{method: "POST", path: "/api/verify/resend/", body: `{"email":"d1@example.com","x":{"email":1},"y":{"email":2}}`},
			200, `{"message":"If the account exists and is unverified, a new verification email is on its way."}`},
		{"NUL in username", request{method: "POST", path: "/api/signup/", body: `{"username":"nul\u0000user","email":"n1@example.com","password":"correct-horse-42"}`},
			400, `{"username":["This field may not contain control characters."]}`},
		{"tab in username", request{method: "POST", path: "/api/signup/", body: `{"username":"a\tb","email":"n1@example.com","password":"correct-horse-42"}`},
			400, `{"username":["This field may not contain control characters."]}`},
		{"line separator in username", request{method: "POST", path: "/api/signup/", body: `{"username":"a\u2028b","email":"n1@example.com","password":"correct-horse-42"}`},
			400, `{"username":["This field may not contain control characters."]}`},
		{"NUL in email", request{method: "POST", path: "/api/signup/", body: `{"username":"u","email":"n2\u0000@example.com","password":"correct-horse-42"}`},
			400, `{"email":["This field may not contain control characters."]}`},
		{"CR/LF in resend email", request{method: "POST", path: "/api/verify/resend/", body: `{"email":"n3@example.com\r\nBcc: v@example.org"}`},
			400, `{"email":["This field may not contain control characters."]}`},
		{"NUL in password", request{method: "POST", path: "/api/signup/", body: `{"username":"u","email":"n4@example.com","password":"Passw0rd\u0000-long-enough"}`},
			400, `{"password":["This field may not contain control characters."]}`},
		{"NUL in login password", request{method: "POST", path: "/api/login/", body: `{"email":"n4@example.com","password":"Passw0rd\u0000-long-enough"}`},
			400, `{"password":["Null characters are not allowed."]}`},
		{"body over 64 KiB", request{method: "POST", path: "/api/signup/", body: big}, 413, `{"message":"Request body too large (limit 64 KiB)."}`},
		{"form content type", request{method: "POST", path: "/api/login/", body: `email=a`, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}},
			415, `{"message":"Unsupported media type; send application/json."}`},
		{"no content type", request{method: "POST", path: "/api/verify/resend/", header: http.Header{}}, 415, `{"message":"Unsupported media type; send application/json."}`},
		{"json with charset is fine", request{method: "POST", path: "/api/verify/resend", body: `{"email":"a@b.co"}`,
			header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}}, 200,
			`{"message":"If the account exists and is unverified, a new verification email is on its way."}`},
		{"unknown path", request{method: "GET", path: "/api/nothing/"}, 404, `{"message":"Not found."}`},
		{"root", request{method: "GET", path: "/"}, 404, `{"message":"Not found."}`},
		{"wrong method", request{method: "GET", path: "/api/signup/"}, 405, `{"message":"Method \"GET\" not allowed."}`},
		{"wrong method on verify", request{method: "DELETE", path: "/api/verify/abc/"}, 405, `{"message":"Method \"DELETE\" not allowed."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(t, tt.rq)
			if tt.body == bodyMessage {
				// A body-level problem: {"message": "..."}, whatever the wording.
				var m map[string]any
				err := json.Unmarshal(rec.Body.Bytes(), &m)
				if msg, ok := m["message"].(string); err != nil || len(m) != 1 || !ok || msg == "" {
					t.Fatalf("got %d %s, want %d {\"message\": ...}", rec.Code, body(rec), tt.code)
				}
			}
			if rec.Code != tt.code || tt.body != bodyMessage && body(rec) != tt.body {
				t.Fatalf("got %d %s, want %d %s", rec.Code, body(rec), tt.code, tt.body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("X-Content-Type-Options") != "nosniff" ||
				rec.Header().Get("X-Request-Id") == "" {
				t.Errorf("missing security headers: %v", rec.Header())
			}
		})
	}
	if n := h.count(t, `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM verification_tokens)`); n != 0 {
		t.Errorf("rejected requests stored %d users and tokens", n)
	}
}

// A 405 names the methods the path takes, whichever route it is.
func TestMethodNotAllowedSaysWhatIsAllowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		method, path, allow string
	}{
		{"GET", "/api/signup/", "POST"},
		{"PUT", "/api/login", "POST"},
		{"PATCH", "/api/signup", "POST"},
		{"DELETE", "/api/verify/abc/", "GET"},
		{"HEAD", "/api/verify/abc", "GET"}, // a HEAD would consume the token unseen
		{"POST", "/api/verify/abc/", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := h.do(t, request{method: tt.method, path: tt.path})
			if rec.Code != 405 || rec.Header().Get("Allow") != tt.allow {
				t.Fatalf("got %d Allow %q, want 405 Allow %q", rec.Code, rec.Header().Get("Allow"), tt.allow)
			}
		})
	}
	if rec := h.do(t, request{method: "GET", path: "/api/nothing/"}); rec.Header().Get("Allow") != "" {
		t.Errorf("a 404 carries Allow %q", rec.Header().Get("Allow"))
	}
}

// bodyMessage in a test's want body: any {"message": "..."} body.
const bodyMessage = "{message}"

// Neither status nor body tells an existing account from an unknown one.
func TestNoAccountEnumeration(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signup(t, "a", "taken@example.com", goodPassword)
	verified := "verified@example.com"
	h.signup(t, "v", verified, goodPassword)
	h.do(t, request{method: "GET", path: "/api/verify/" + h.lastToken(t) + "/"})

	pairs := []struct {
		name       string
		known, new request
	}{
		{"signup (unverified account)", signupReq("x", "TAKEN@example.com"), signupReq("x", "fresh1@example.com")},
		{"signup (verified account)", signupReq("x", verified), signupReq("x", "fresh2@example.com")},
		{"login: wrong password vs unknown email", loginReq("taken@example.com", "wrong-password"), loginReq("nobody@example.com", "wrong-password")},
		{"login: verified, wrong password", loginReq(verified, "wrong-password"), loginReq("nobody2@example.com", "wrong-password")},
		{"resend", request{method: "POST", path: "/api/verify/resend/", body: `{"email":"taken@example.com"}`},
			request{method: "POST", path: "/api/verify/resend/", body: `{"email":"nobody@example.com"}`}},
	}
	for _, p := range pairs {
		a, b := h.do(t, p.known), h.do(t, p.new)
		if a.Code != b.Code || body(a) != body(b) {
			t.Errorf("%s: %d %s vs %d %s", p.name, a.Code, body(a), b.Code, body(b))
		}
	}
	if n := h.count(t, `SELECT count(*) FROM users WHERE lower(email) = 'taken@example.com'`); n != 1 {
		t.Fatalf("%d accounts for taken@example.com", n)
	}
	var types []string
	for _, ev := range migrationstest.OutboxEvents(t, h.pool) {
		types = append(types, ev.Type)
	}
	want := strings.Join([]string{events.UserCreated, events.UserCreated, events.VerificationRequested, events.UserCreated,
		events.SignupDuplicate, events.UserCreated, events.VerificationRequested}, ",")
	if strings.Join(types, ",") != want {
		t.Fatalf("events %v, want %s", types, want)
	}
	if got := h.metric(t, "kairos_signups_total", map[string]string{"result": "duplicate"}); got != 2 {
		t.Fatalf("duplicate signups counted %v, want 2", got)
	}
}

func signupReq(username, email string) request {
	return request{method: "POST", path: "/api/signup/",
		body: `{"username":"` + username + `","email":"` + email + `","password":"` + goodPassword + `"}`}
}

func loginReq(email, password string) request {
	return request{method: "POST", path: "/api/login/", body: `{"email":"` + email + `","password":"` + password + `"}`}
}

// 50 concurrent signups of one address in different letter cases make one
// account, and every one of them answers 200.
func TestConcurrentSignupsOfOneAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var wg sync.WaitGroup
	codes := make([]int, 50)
	for i := range 50 {
		wg.Go(func() {
			email := []byte("concurrent@example.com")
			for j := range email {
				if (i>>(j%6))&1 == 1 && email[j] >= 'a' && email[j] <= 'z' {
					email[j] -= 'a' - 'A'
				}
			}
			codes[i] = h.do(t, signupReq("user", string(email))).Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("signup %d: %d", i, c)
		}
	}
	if n := h.count(t, `SELECT count(*) FROM users`); n != 1 {
		t.Fatalf("%d accounts, want 1", n)
	}
	// The mail budget (5 an hour per address) caps the repeats' emails.
	if n := h.count(t, `SELECT count(*) FROM outbox`); n != 1+5 {
		t.Fatalf("%d events, want 6 (one user.created, 5 verification_requested within the mail budget)", n)
	}
	// Exactly one link is left valid: the newest.
	if n := h.count(t, `SELECT count(*) FROM verification_tokens WHERE revoked_at IS NULL`); n != 1 {
		t.Fatalf("%d valid tokens, want 1", n)
	}
}

func TestVerifyRedirectsBrowsers(t *testing.T) {
	t.Parallel()
	redirect, _ := url.Parse("https://app.example.com/verified?from=email")
	h := newHarness(t, func(o *httpapi.Options) { o.VerifyRedirect = redirect })
	h.signup(t, "a", "a@example.com", goodPassword)
	tok := h.lastToken(t)
	browser := http.Header{"Accept": {"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}}
	for _, tt := range []struct{ token, status string }{
		{tok, "verified"}, {tok, "already_verified"}, {"bogus", "invalid"},
	} {
		rec := h.do(t, request{method: "GET", path: "/api/verify/" + tt.token + "/", header: browser})
		want := "https://app.example.com/verified?from=email&status=" + tt.status
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
			t.Fatalf("%s: %d Location %q, want 303 %q", tt.status, rec.Code, rec.Header().Get("Location"), want)
		}
	}
	// The frontend's fetch (JSON) still gets JSON.
	if rec := h.do(t, request{method: "GET", path: "/api/verify/" + tok + "/", header: http.Header{"Accept": {"application/json"}}}); rec.Code != 200 {
		t.Fatalf("JSON client: %d", rec.Code)
	}
}

func TestLoginLockout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signup(t, "a", "a@example.com", goodPassword)
	h.do(t, request{method: "GET", path: "/api/verify/" + h.lastToken(t) + "/"})
	for i := range 5 {
		if rec := h.login(t, "a@example.com", "wrong-password"); rec.Code != 401 {
			t.Fatalf("failure %d: %d", i+1, rec.Code)
		}
	}
	rec := h.login(t, "A@example.com", goodPassword)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "60" || !strings.Contains(body(rec), "message") {
		t.Fatalf("locked login: %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), body(rec))
	}
	// The lock is per email and source: other accounts are unaffected, and
	// so is the owner from another address.
	if rec := h.login(t, "b@example.com", "wrong-password"); rec.Code != 401 {
		t.Fatalf("other email: %d", rec.Code)
	}
	if rec := h.do(t, request{method: "POST", path: "/api/login/", remote: "198.51.100.1:4000",
		body: `{"email":"a@example.com","password":` + quote(goodPassword) + `}`}); rec.Code != 200 {
		t.Fatalf("owner from another address: %d %s", rec.Code, body(rec))
	}
	if h.metric(t, "kairos_logins_total", map[string]string{"result": "locked"}) != 1 ||
		h.metric(t, "kairos_logins_total", map[string]string{"result": "invalid_credentials"}) != 6 ||
		h.metric(t, "kairos_login_lockouts_total", map[string]string{"kind": "source"}) != 1 {
		t.Fatal("login metrics do not match")
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *httpapi.Options) { o.CORSOrigins = []string{"https://app.example.com"} })
	preflight := func(origin string) *http.Response {
		rec := h.do(t, request{method: "OPTIONS", path: "/api/signup/", header: http.Header{
			"Origin": {origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type"}}})
		return rec.Result()
	}
	ok := preflight("https://app.example.com")
	if ok.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || ok.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed origin preflight: %d %v", ok.StatusCode, ok.Header)
	}
	if bad := preflight("https://evil.example.com"); bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin got CORS headers: %v", bad.Header)
	}
	rec := h.do(t, request{method: "POST", path: "/api/verify/resend/", body: `{"email":"a@b.co"}`, header: http.Header{"Origin": {"https://app.example.com"}}})
	if rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("simple request: %v", rec.Header())
	}
	// No CORS configured: no CORS headers at all, never "*".
	none := newHarness(t)
	rec = none.do(t, request{method: "POST", path: "/api/verify/resend/", body: `{"email":"a@b.co"}`, header: http.Header{"Origin": {"https://app.example.com"}}})
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS header without configuration: %v", rec.Header())
	}
}

func TestMetricsUseRouteTemplates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Series exist before the first event.
	for _, c := range []struct{ name, result string }{
		{"kairos_signups_total", "overloaded"}, {"kairos_logins_total", "unverified"},
		{"kairos_verifications_total", "expired"}, {"kairos_verification_resends_total", "rate_limited"},
	} {
		if got := h.metric(t, c.name, map[string]string{"result": c.result}); got != 0 {
			t.Errorf("%s{result=%q} = %v before any request, want a 0 series", c.name, c.result, got)
		}
	}
	h.do(t, request{method: "GET", path: "/api/verify/some-token-value/"})
	h.do(t, request{method: "GET", path: "/secret/path"})
	if got := h.metric(t, "http_server_request_duration_seconds", map[string]string{"method": "GET", "route": "/api/verify/{token}/", "code": "400"}); got != 1 {
		t.Fatalf("verify request counted %v times under its template", got)
	}
	if got := h.metric(t, "http_server_request_duration_seconds", map[string]string{"method": "GET", "route": "unmatched", "code": "404"}); got != 1 {
		t.Fatalf("404 counted %v times as unmatched", got)
	}
	if got := h.metric(t, "kairos_verifications_total", map[string]string{"result": "invalid"}); got != 1 {
		t.Fatalf("invalid verifications = %v", got)
	}
	mfs, _ := h.reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "some-token-value") || strings.Contains(l.GetValue(), "secret") {
					t.Fatalf("raw path in a label: %s %v", mf.GetName(), l)
				}
			}
		}
	}
}
