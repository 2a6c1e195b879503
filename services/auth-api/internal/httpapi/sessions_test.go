package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

type tokenAnswer struct {
	Message      string `json:"message"`
	AuthID       string `json:"auth_id"`
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// signedIn signs up, verifies and logs in email, returning the login answer.
func (h *harness) signedIn(t *testing.T, email string) tokenAnswer {
	t.Helper()
	if rec := h.signup(t, "ada", email, goodPassword); rec.Code != 200 {
		t.Fatalf("signup: %d %s", rec.Code, body(rec))
	}
	if rec := h.do(t, request{method: "GET", path: "/api/verify/" + h.lastToken(t) + "/"}); rec.Code != 200 {
		t.Fatalf("verify: %d %s", rec.Code, body(rec))
	}
	return h.logIn(t, email)
}

func (h *harness) logIn(t *testing.T, email string) tokenAnswer {
	t.Helper()
	rec := h.do(t, request{method: "POST", path: "/api/login/", body: `{"email":` + quote(email) + `,"password":"` + goodPassword + `"}`,
		header: http.Header{"User-Agent": {"walk-test/1.0"}}, remote: "203.0.113.9:5555"})
	return decodeTokens(t, rec.Code, rec.Body.Bytes())
}

func decodeTokens(t *testing.T, code int, b []byte) tokenAnswer {
	t.Helper()
	var a tokenAnswer
	if err := json.Unmarshal(b, &a); err != nil || code != 200 || a.AccessToken == "" || a.RefreshToken == "" ||
		a.TokenType != "Bearer" || a.ExpiresIn != 600 {
		t.Fatalf("token answer: %d %s", code, b)
	}
	return a
}

func (h *harness) bearer(t *testing.T, method, path, token, reqBody string) (int, string, http.Header) {
	t.Helper()
	rec := h.do(t, request{method: method, path: path, body: reqBody, header: http.Header{"Authorization": {"Bearer " + token}}})
	return rec.Code, body(rec), rec.Header()
}

func (h *harness) refresh(t *testing.T, refreshToken string) (int, string) {
	t.Helper()
	rec := h.do(t, request{method: "POST", path: "/api/token/refresh/", body: `{"refresh_token":` + quote(refreshToken) + `}`})
	return rec.Code, body(rec)
}

// login → me → sessions → refresh → logout → check 401, and nothing secret
// in the logs.
func TestSessionWalk(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	login := h.signedIn(t, "ada@example.com")
	if login.Message != "Login successful" || login.AuthID == "" {
		t.Fatalf("login keeps its seed fields: %+v", login)
	}

	code, me, _ := h.bearer(t, "GET", "/api/me", login.AccessToken, "")
	var profile struct {
		UID, Username, Email string
		EmailVerified        bool `json:"email_verified"`
	}
	if err := json.Unmarshal([]byte(me), &profile); err != nil || code != 200 || profile.UID != login.AuthID ||
		profile.Username != "ada" || profile.Email != "ada@example.com" || !profile.EmailVerified {
		t.Fatalf("me: %d %s", code, me)
	}

	code, list, _ := h.bearer(t, "GET", "/api/sessions/", login.AccessToken, "")
	var sessions struct {
		Sessions []struct {
			ID, UserAgent string
			IP            *string
			Current       bool
		}
	}
	if err := json.Unmarshal([]byte(list), &sessions); err != nil || code != 200 || len(sessions.Sessions) != 1 ||
		!sessions.Sessions[0].Current || sessions.Sessions[0].IP == nil || *sessions.Sessions[0].IP != "203.0.113.9" {
		t.Fatalf("sessions: %d %s", code, list)
	}
	sid := sessions.Sessions[0].ID

	code, b := h.refresh(t, login.RefreshToken)
	next := decodeTokens(t, code, []byte(b))
	if next.RefreshToken == login.RefreshToken || next.AccessToken == login.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	if code, _, hdr := h.bearer(t, "GET", "/api/auth/check", next.AccessToken, ""); code != 200 ||
		hdr.Get("X-User-ID") != login.AuthID || hdr.Get("X-User-Email-Verified") != "true" {
		t.Fatalf("check: %d %v", code, hdr)
	}

	// As ext_authz asks: the client's method and path appended.
	if code, _, hdr := h.bearer(t, "POST", "/api/auth/check/agent/v1/chat?q=1", next.AccessToken, ""); code != 200 || hdr.Get("X-User-ID") != login.AuthID {
		t.Fatalf("check with a forwarded path: %d", code)
	}
	if code, b, _ := h.bearer(t, "POST", "/api/logout/", next.AccessToken, ""); code != 204 || b != "" {
		t.Fatalf("logout: %d %s", code, b)
	}
	for _, tok := range []string{login.AccessToken, next.AccessToken} {
		code, b, hdr := h.bearer(t, "GET", "/api/auth/check", tok, "")
		if code != 401 || hdr.Get("WWW-Authenticate") != "Bearer" || hdr.Get("X-User-ID") != "" {
			t.Fatalf("check after logout: %d %s %v", code, b, hdr)
		}
		if code, b, _ := h.bearer(t, "GET", "/api/me/", tok, ""); code != 401 || b != `{"message":"Invalid or expired access token"}` {
			t.Fatalf("me after logout: %d %s", code, b)
		}
	}
	if code, b := h.refresh(t, next.RefreshToken); code != 401 || b != `{"message":"Invalid refresh token"}` {
		t.Fatalf("refresh after logout: %d %s", code, b)
	}
	// Logging out twice is not an error... but the token is revoked by now.
	if code, _, _ := h.bearer(t, "POST", "/api/logout/", next.AccessToken, ""); code != 401 {
		t.Fatalf("logout with a revoked token: %d", code)
	}

	for name, want := range map[string]float64{
		`kairos_access_tokens_issued_total{grant="login"}`:   1,
		`kairos_access_tokens_issued_total{grant="refresh"}`: 1,
		`kairos_token_refreshes_total{result="rotated"}`:     1,
		`kairos_token_refreshes_total{result="invalid"}`:     1,
		`kairos_auth_checks_total{result="ok"}`:              2,
		`kairos_auth_checks_total{result="revoked"}`:         2,
	} {
		metric, label, _ := strings.Cut(strings.TrimSuffix(name, `"}`), "{")
		k, v, _ := strings.Cut(label, `="`)
		if got := h.metric(t, metric, map[string]string{k: v}); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	logs := h.logs.String()
	for _, secret := range []string{login.AccessToken, login.RefreshToken, next.AccessToken, next.RefreshToken, sid} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain a token or session id %q", secret)
		}
	}
}

// Rotation: a retry within the grace window gets the same successor; a
// rotated token presented once its successor was used revokes the session.
func TestRefreshRotationGraceAndReuse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	login := h.signedIn(t, "ada@example.com")

	// Two tabs at once: one successor, both get it.
	var wg sync.WaitGroup
	answers := make([]tokenAnswer, 4)
	for i := range answers {
		wg.Go(func() {
			code, b := h.refresh(t, login.RefreshToken)
			var a tokenAnswer
			if err := json.Unmarshal([]byte(b), &a); err != nil || code != 200 {
				t.Errorf("concurrent refresh: %d %s", code, b)
			}
			answers[i] = a
		})
	}
	wg.Wait()
	for _, a := range answers[1:] {
		if a.RefreshToken != answers[0].RefreshToken {
			t.Fatalf("concurrent refreshes got different successors")
		}
	}
	if got := h.metric(t, "kairos_token_refreshes_total", map[string]string{"result": "grace_retry"}); got != 3 {
		t.Fatalf("grace retries = %v, want 3", got)
	}
	second := answers[0]

	// The successor is used; the first token comes back: reuse.
	code, b := h.refresh(t, second.RefreshToken)
	third := decodeTokens(t, code, []byte(b))
	if code, b := h.refresh(t, login.RefreshToken); code != 401 || b != `{"message":"Invalid refresh token"}` {
		t.Fatalf("reuse: %d %s", code, b)
	}
	if got := h.metric(t, "kairos_token_refreshes_total", map[string]string{"result": "reuse_revoked"}); got != 1 {
		t.Fatalf("reuse_revoked = %v", got)
	}
	// The whole session is gone: its newest tokens too, at once on this replica.
	if code, _, _ := h.bearer(t, "GET", "/api/auth/check", third.AccessToken, ""); code != 401 {
		t.Fatalf("check after reuse: %d", code)
	}
	if code, _ := h.refresh(t, third.RefreshToken); code != 401 {
		t.Fatalf("refresh after reuse: %d", code)
	}
	if code, b := h.refresh(t, ""); code != 401 {
		t.Fatalf("empty refresh token: %d %s", code, b)
	}
	if rec := h.do(t, request{method: "POST", path: "/api/token/refresh/", body: `{}`}); rec.Code != 400 ||
		body(rec) != `{"refresh_token":["This field is required."]}` {
		t.Fatalf("no refresh token: %d %s", rec.Code, body(rec))
	}
}

func TestLogoutScopesAndSessionDeletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.signedIn(t, "ada@example.com")
	b := h.logIn(t, "ada@example.com")
	c := h.logIn(t, "ada@example.com")

	if code, body, _ := h.bearer(t, "POST", "/api/logout/", a.AccessToken, `{"scope":"everywhere"}`); code != 400 ||
		body != `{"scope":["Must be \"this\", \"others\" or \"all\"."]}` {
		t.Fatalf("bad scope: %d %s", code, body)
	}
	// Delete b by id from a.
	_, list, _ := h.bearer(t, "GET", "/api/sessions/", a.AccessToken, "")
	var sessions struct {
		Sessions []struct {
			ID      string
			Current bool
		}
	}
	if err := json.Unmarshal([]byte(list), &sessions); err != nil || len(sessions.Sessions) != 3 {
		t.Fatalf("sessions: %s", list)
	}
	bSID := sid(t, b.AccessToken)
	if code, _, _ := h.bearer(t, "DELETE", "/api/sessions/"+bSID, a.AccessToken, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, body, _ := h.bearer(t, "DELETE", "/api/sessions/"+bSID+"/", a.AccessToken, ""); code != 404 || body != `{"message":"Session not found."}` {
		t.Fatalf("delete again: %d %s", code, body)
	}
	if code, _, _ := h.bearer(t, "DELETE", "/api/sessions/not-a-uuid", a.AccessToken, ""); code != 404 {
		t.Fatalf("delete nonsense: %d", code)
	}
	if code, _, _ := h.bearer(t, "GET", "/api/auth/check", b.AccessToken, ""); code != 401 {
		t.Fatalf("deleted session's token: %d", code)
	}
	// others: c ends, a stays.
	if code, _, _ := h.bearer(t, "POST", "/api/logout/", a.AccessToken, `{"scope":"others"}`); code != 204 {
		t.Fatalf("logout others: %d", code)
	}
	if code, _, _ := h.bearer(t, "GET", "/api/auth/check", c.AccessToken, ""); code != 401 {
		t.Fatalf("other session's token after scope=others: %d", code)
	}
	if code, _, _ := h.bearer(t, "GET", "/api/auth/check", a.AccessToken, ""); code != 200 {
		t.Fatalf("own session after scope=others: %d", code)
	}
	// all, then a new login works at once.
	d := h.logIn(t, "ada@example.com")
	if code, _, _ := h.bearer(t, "POST", "/api/logout/", d.AccessToken, `{"scope":"all"}`); code != 204 {
		t.Fatalf("logout all: %d", code)
	}
	for _, tok := range []string{a.AccessToken, d.AccessToken} {
		if code, _, _ := h.bearer(t, "GET", "/api/auth/check", tok, ""); code != 401 {
			t.Fatalf("token after scope=all: %d", code)
		}
	}
	e := h.logIn(t, "ada@example.com")
	if code, _, _ := h.bearer(t, "GET", "/api/auth/check", e.AccessToken, ""); code != 200 {
		t.Fatalf("a login right after logout everywhere: %d", code)
	}
}

func sid(t *testing.T, token string) string {
	t.Helper()
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		t.Fatal(err)
	}
	return c["sid"].(string)
}

// Every bad Authorization is a 401 with the Bearer challenge, never a 5xx.
func TestBadAccessTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	login := h.signedIn(t, "ada@example.com")
	block, _ := pem.Decode(h.keyPEM)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := k.(*ecdsa.PrivateKey)
	kid := h.authority.Keys().Signing().ID
	pubDER, _ := x509.MarshalPKIXPublicKey(key.Public())
	strangerPEM, _ := testKeys(t)
	sb, _ := pem.Decode(strangerPEM)
	sk, _ := x509.ParsePKCS8PrivateKey(sb.Bytes)

	now := time.Now().Unix()
	claims := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "http://localhost:8080", "aud": "kairos", "sub": login.AuthID, "sid": sid(t, login.AccessToken),
			"iat": now, "nbf": now, "exp": now + 600, "jti": "j", "email_verified": true}
		if k != "" {
			c[k] = v
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if code, _, _ := h.bearer(t, "GET", "/api/auth/check", sign(jwt.SigningMethodES256, key, kid, claims("", nil)), ""); code != 200 {
		t.Fatalf("the forging baseline must pass: %d", code)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims("", nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)

	cases := map[string][]string{
		"no header":                 nil,
		"two headers":               {"Bearer " + login.AccessToken, "Bearer " + login.AccessToken},
		"basic":                     {"Basic YWRhOnB3"},
		"bearer without token":      {"Bearer "},
		"garbage":                   {"Bearer not.a.jwt"},
		"truncated":                 {"Bearer " + login.AccessToken[:len(login.AccessToken)-8]},
		"alg none":                  {"Bearer " + none},
		"HS256 with the public key": {"Bearer " + sign(jwt.SigningMethodHS256, pubDER, kid, claims("", nil))},
		"re-signed by a stranger":   {"Bearer " + sign(jwt.SigningMethodES256, sk, kid, claims("", nil))},
		"unknown kid":               {"Bearer " + sign(jwt.SigningMethodES256, key, "other", claims("", nil))},
		"expired":                   {"Bearer " + sign(jwt.SigningMethodES256, key, kid, claims("exp", now-60))},
		"not yet valid":             {"Bearer " + sign(jwt.SigningMethodES256, key, kid, claims("nbf", now+3600))},
		"wrong audience":            {"Bearer " + sign(jwt.SigningMethodES256, key, kid, claims("aud", "agent"))},
		"wrong issuer":              {"Bearer " + sign(jwt.SigningMethodES256, key, kid, claims("iss", "https://evil.example"))},
		"refresh token as access":   {"Bearer " + login.RefreshToken},
		"oversized header":          {"Bearer " + strings.Repeat("A", 9<<10)},
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/api/auth/check", "/api/me", "/api/sessions/"} {
				rec := h.do(t, request{method: "GET", path: path, header: http.Header{"Authorization": hdr}})
				if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != "Bearer" || rec.Header().Get("X-User-ID") != "" {
					t.Fatalf("%s: %d %s %v", path, rec.Code, body(rec), rec.Header())
				}
			}
		})
	}
	if got := h.metric(t, "kairos_auth_checks_total", map[string]string{"result": "expired"}); got != 1 {
		t.Fatalf("expired checks = %v", got)
	}
	if logs := h.logs.String(); strings.Contains(logs, login.AccessToken[:40]) {
		t.Fatal("logs contain a token")
	}
}

// A stale feed: the check asks PostgreSQL, so a revocation the deny-list
// never heard of is still honoured.
func TestStaleFeedAsksPostgres(t *testing.T) {
	t.Parallel()
	var checker *revocation.Checker
	h := newHarness(t, func(o *httpapi.Options) {
		checker = o.Checker.(*revocation.Checker)
		checker.MaxLag = 0
		checker.Now = func() time.Time { return time.Now().Add(time.Second) }
	})
	login := h.signedIn(t, "ada@example.com")
	if code, _, hdr := h.bearer(t, "GET", "/api/auth/check", login.AccessToken, ""); code != 200 || hdr.Get("X-User-ID") != login.AuthID {
		t.Fatalf("stale check of a live session: %d", code)
	}
	if got := h.metric(t, "kairos_auth_checks_total", map[string]string{"result": "ok_db"}); got != 1 {
		t.Fatalf("ok_db = %v", got)
	}
	// Revoked behind the replica's back (as by another replica whose event
	// has not arrived).
	if _, err := h.pool.Exec(context.Background(), `UPDATE sessions SET revoked_at = now(), revoke_reason = 'logout'`); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := h.bearer(t, "GET", "/api/auth/check", login.AccessToken, ""); code != 401 {
		t.Fatalf("stale check of a revoked session: %d", code)
	}
	// And with the database gone too: 503, never 200.
	h.pool.Close()
	rec := h.do(t, request{method: "GET", path: "/api/auth/check", header: http.Header{"Authorization": {"Bearer " + login.AccessToken}}})
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("stale feed, no database: %d %s", rec.Code, body(rec))
	}
}

func TestKeyDocuments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rec := h.do(t, request{method: "GET", path: "/.well-known/jwks.json"})
	var jwks struct{ Keys []struct{ Kid, Alg string } }
	if err := json.Unmarshal(rec.Body.Bytes(), &jwks); err != nil || rec.Code != 200 || len(jwks.Keys) != 1 ||
		jwks.Keys[0].Kid != h.authority.Keys().Signing().ID || jwks.Keys[0].Alg != tokens.AlgES256 ||
		rec.Header().Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("jwks: %d %s %v", rec.Code, body(rec), rec.Header())
	}
	rec = h.do(t, request{method: "GET", path: "/.well-known/openid-configuration"})
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &disc); err != nil || rec.Code != 200 ||
		disc.Issuer != "http://localhost:8080" || disc.JWKSURI != "http://localhost:8080/.well-known/jwks.json" {
		t.Fatalf("discovery: %d %s", rec.Code, body(rec))
	}
	if rec := h.do(t, request{method: "GET", path: "/.well-known/jwks.json/"}); rec.Code != 404 {
		t.Fatalf("well-known names are exact: %d", rec.Code)
	}
}
