package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// call sends a request to the public listener with an optional bearer
// token and JSON body.
func (s *service) call(t *testing.T, method, path, token, reqBody string) (int, http.Header, string) {
	t.Helper()
	return send(t, method, s.api+path, token, reqBody)
}

// send sends a request to url with an optional bearer token and JSON body.
func send(t *testing.T, method, url, token, reqBody string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
}

func (s *service) check(t *testing.T, token string) int {
	t.Helper()
	code, _, _ := s.call(t, "GET", "/api/auth/check", token, "")
	return code
}

// verifiedAccount signs up email on s and verifies it from the event.
func verifiedAccount(t *testing.T, s *service, natsURL, email string, nth int) {
	t.Helper()
	if code, body := s.post(t, "/api/signup/", `{"username":"ada","email":"`+email+`","password":"correct-horse-42"}`); code != 200 {
		t.Fatalf("signup: %d %s", code, body)
	}
	evs, _ := streamEvents(t, natsURL, nth)
	if code, body := s.get(t, s.api+"/api/verify/"+tokenFrom(t, evs[nth-1].VerifyURL)); code != 200 {
		t.Fatalf("verify: %d %s", code, body)
	}
}

func logIn(t *testing.T, s *service, email string) loginAnswer {
	t.Helper()
	code, body := s.post(t, "/api/login/", `{"email":"`+email+`","password":"correct-horse-42"}`)
	var a loginAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil || code != 200 || a.AccessToken == "" {
		t.Fatalf("login: %d %s", code, body)
	}
	return a
}

// Three replicas on one database and one NATS: a logout on any of them
// makes the ingress check answer 401 on all three, and a reused refresh
// token revokes its session everywhere as well.
func TestLogoutReachesEveryReplica(t *testing.T) {
	t.Parallel()
	ns := natstest.New(t)
	env := map[string]string{"DATABASE_URL": migrationstest.NewDatabase(t), "NATS_URL": ns.URL(), "JWT_SIGNING_KEYS_FILE": keyFile(t)}
	replicas := []*service{start(t, env), start(t, env), start(t, env)}
	verifiedAccount(t, replicas[0], ns.URL(), "ada@example.com", 1)

	for i, via := range replicas {
		login := logIn(t, replicas[(i+1)%3], "ada@example.com")
		for _, r := range replicas {
			if code := r.check(t, login.AccessToken); code != 200 {
				t.Fatalf("check of a fresh login: %d", code)
			}
		}
		if code, _, body := via.call(t, "POST", "/api/logout/", login.AccessToken, ""); code != 204 {
			t.Fatalf("logout on replica %d: %d %s", i, code, body)
		}
		for j, r := range replicas {
			testkit.Eventually(t, "the logout to reach every replica", func() bool { return r.check(t, login.AccessToken) == 401 })
			if code, _, _ := r.call(t, "GET", "/api/me", login.AccessToken, ""); code != 401 {
				t.Fatalf("replica %d: /api/me after logout on replica %d: %d", j, i, code)
			}
		}
	}

	// Refresh-token reuse on one replica revokes the session on all.
	login := logIn(t, replicas[0], "ada@example.com")
	code, _, body := replicas[1].call(t, "POST", "/api/token/refresh/", "", `{"refresh_token":"`+login.RefreshToken+`"}`)
	var next loginAnswer
	if err := json.Unmarshal([]byte(body), &next); err != nil || code != 200 {
		t.Fatalf("refresh: %d %s", code, body)
	}
	if code, _, _ := replicas[2].call(t, "POST", "/api/token/refresh/", "", `{"refresh_token":"`+next.RefreshToken+`"}`); code != 200 {
		t.Fatalf("refresh of the successor: %d", code)
	}
	if code, _, _ := replicas[0].call(t, "POST", "/api/token/refresh/", "", `{"refresh_token":"`+login.RefreshToken+`"}`); code != 401 {
		t.Fatalf("reuse: %d", code)
	}
	for _, r := range replicas {
		testkit.Eventually(t, "the reuse revocation to reach every replica", func() bool { return r.check(t, next.AccessToken) == 401 })
	}

	_, metrics := replicas[0].get(t, replicas[0].admin+"/metrics")
	for _, want := range []string{`kairos_token_refreshes_total{result="reuse_revoked"} 1`, `kairos_revocation_denylist_entries `,
		`kairos_revocation_feed_lag_seconds `, `kairos_outbox_published_total{subject="session.revoked"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, r := range replicas {
		for _, secret := range []string{login.AccessToken, login.RefreshToken, next.RefreshToken} {
			if strings.Contains(r.logs.String(), secret) {
				t.Fatal("a replica logged a token")
			}
		}
	}
}

// The README's rotation procedure, replica by replica: next key added,
// promoted, old key retired. A token of the old key verifies until it
// expires, then not; without the old key, never.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, err := tokens.Generate(tokens.TypeES256)
	if err != nil {
		t.Fatal(err)
	}
	nextKey, err := tokens.Generate(tokens.TypeEd25519)
	if err != nil {
		t.Fatal(err)
	}
	ns := natstest.New(t)
	db := migrationstest.NewDatabase(t)
	replica := func(keys ...[]byte) *service {
		return start(t, map[string]string{"DATABASE_URL": db, "NATS_URL": ns.URL(), "JWT_SIGNING_KEYS_FILE": keyFile(t, keys...),
			"ACCESS_TOKEN_TTL": "1m"})
	}
	current := replica(oldKey)
	verifiedAccount(t, current, ns.URL(), "ada@example.com", 1)
	old := logIn(t, current, "ada@example.com").AccessToken

	// 1. The next key is published next to the current one.
	published := replica(oldKey, nextKey)
	if code, _, jwks := published.call(t, "GET", "/.well-known/jwks.json", "", ""); code != 200 || strings.Count(jwks, `"kid"`) != 2 {
		t.Fatalf("jwks with the next key: %d %s", code, jwks)
	}
	// 2. Promoted: it signs; the old key, reduced to its public half, verifies.
	promoted := replica(nextKey, publicHalf(t, oldKey))
	fresh := logIn(t, promoted, "ada@example.com").AccessToken
	if alg := header(t, fresh)["alg"]; alg != "EdDSA" {
		t.Fatalf("the promoted key signs %v", alg)
	}
	for _, r := range []*service{published, promoted} {
		if r.check(t, old) != 200 || r.check(t, fresh) != 200 {
			t.Fatal("tokens of both keys verify during the rotation")
		}
	}
	if current.check(t, fresh) != 401 {
		t.Fatal("a replica without the next key refuses its tokens (why step 1 comes first)")
	}
	// 3. Retired: without the old key its tokens no longer verify.
	retired := replica(nextKey)
	if retired.check(t, old) != 401 || retired.check(t, fresh) != 200 {
		t.Fatal("after retirement only the next key's tokens verify")
	}
	// Until then the old key's token verified because it had not expired:
	// once it has (exp + the 5 s leeway), not even the bundle with its key
	// takes it.
	exp := time.Unix(int64(claimsOf(t, old)["exp"].(float64)), 0)
	time.Sleep(time.Until(exp.Add(tokenLeeway + time.Second)))
	if promoted.check(t, old) != 401 {
		t.Fatal("an expired token of the retired key still verifies")
	}
}

func publicHalf(t *testing.T, privatePEM []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(privatePEM)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.(*ecdsa.PrivateKey).Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func header(t *testing.T, token string) map[string]any {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Header
}

func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// With NATS away the feed goes stale and every replica asks PostgreSQL: a
// logout on one replica, whose event cannot be published, is still
// honoured by the others, and they stay ready.
func TestStaleFeedFallsBackToPostgres(t *testing.T) {
	t.Parallel()
	ns := natstest.New(t)
	env := map[string]string{"DATABASE_URL": migrationstest.NewDatabase(t), "NATS_URL": ns.URL(), "JWT_SIGNING_KEYS_FILE": keyFile(t)}
	a, b := start(t, env), start(t, env)
	verifiedAccount(t, a, ns.URL(), "ada@example.com", 1)
	login := logIn(t, a, "ada@example.com")

	ns.Stop()
	okDB := regexp.MustCompile(`kairos_auth_checks_total\{result="ok_db"\} [1-9]`)
	testkit.Eventually(t, "b to answer from PostgreSQL", func() bool {
		if b.check(t, login.AccessToken) != 200 {
			t.Fatal("a live session's token refused while the feed is stale")
		}
		_, m := b.get(t, b.admin+"/metrics")
		return okDB.MatchString(m)
	})
	if code, _, body := a.call(t, "POST", "/api/logout/", login.AccessToken, ""); code != 204 {
		t.Fatalf("logout with NATS down: %d %s", code, body)
	}
	if code := b.check(t, login.AccessToken); code != 401 {
		t.Fatalf("b, stale, after a logout on a: %d", code)
	}
	if b.status(t, b.admin+"/readyz") != 200 {
		t.Fatal("a stale feed made the replica unready")
	}
	ns.Start()
	// Back to the deny-list: the event reaches b, which denies from memory.
	testkit.Eventually(t, "the logout event to reach b's deny-list", func() bool {
		_, m := b.get(t, b.admin+"/metrics")
		return strings.Contains(m, "kairos_revocation_denylist_entries 1")
	})
}
