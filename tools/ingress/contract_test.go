package ingress_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/services/auth-api/passhash"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// TestAgentHeaderContract: behind nginx configured as ingress-nginx's
// auth-url does it, the Agent sees X-User-ID only on requests with a live
// session's token, and then it is that token's uid — never a value the
// client sent, never for a revoked, tampered, re-signed or unsigned token.
func TestAgentHeaderContract(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	keyFile := filepath.Join(t.TempDir(), "signing-keys.pem")
	writeES256Key(t, keyFile)
	s, err := stack.Start(ctx, stack.Options{
		AuthEnv: map[string]string{"JWT_SIGNING_KEYS_FILE": keyFile, "LOG_LEVEL": "warn"},
		Log:     testLog{t},
	})
	if err != nil {
		t.Fatalf("start the services: %v", err)
	}
	t.Cleanup(s.Close)
	agent := startAgent(t)
	proxy := startNginx(t, s.Auth[0].HTTPAddr, agent.addr())

	alice := seedUser(ctx, t, s.PG.DatabaseURL, "alice")
	bob := seedUser(ctx, t, s.PG.DatabaseURL, "bob")
	api := s.AuthURL()
	aliceToken := login(t, api, alice)
	bobToken := login(t, api, bob)

	t.Run("a valid token reaches the Agent with its uid", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			got := agent.expectOne(t, func() {
				expectStatus(t, send(t, method, proxy.URL+"/api/chat", bearer(aliceToken)), http.StatusOK)
			})
			if got.Get("X-User-ID") != alice.uid || got.Get("X-User-Email-Verified") != "true" {
				t.Errorf("%s: the Agent saw X-User-ID %q, X-User-Email-Verified %q; want %q, true", method, got.Get("X-User-ID"), got.Get("X-User-Email-Verified"), alice.uid)
			}
		}
	})

	t.Run("a client-sent X-User-ID is replaced", func(t *testing.T) {
		// Each spelling and a repeated header: nginx matches header names
		// without regard to case, and the set header replaces all of them.
		for _, spoof := range []http.Header{
			{"X-User-Id": {bob.uid}},
			{"x-user-id": {bob.uid}},
			{"X-User-Id": {bob.uid, bob.uid}},
			{"X-User-Id": {bob.uid}, "X-User-Email-Verified": {"false"}},
		} {
			h := bearer(aliceToken)
			for k, v := range spoof {
				for _, vv := range v {
					h.Add(k, vv)
				}
			}
			got := agent.expectOne(t, func() {
				expectStatus(t, send(t, http.MethodGet, proxy.URL+"/api/chat", h), http.StatusOK)
			})
			if ids := got.Values("X-User-Id"); len(ids) != 1 || ids[0] != alice.uid {
				t.Errorf("spoofed %v: the Agent saw X-User-ID %q, want only %q", spoof, ids, alice.uid)
			}
		}
	})

	t.Run("no token, spoofed X-User-ID: never reaches the Agent", func(t *testing.T) {
		h := http.Header{"X-User-Id": {bob.uid}}
		agent.expectNone(t, func() { expectUnauthorized(t, send(t, http.MethodGet, proxy.URL+"/api/chat", h)) })
	})

	t.Run("forged tokens never reach the Agent", func(t *testing.T) {
		stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		head, claims, _ := splitJWT(t, aliceToken)
		for name, tok := range map[string]string{
			// Alice's token with Bob's uid in its claims and Alice's signature.
			"tampered claims": head + "." + b64(withClaim(t, claims, "sub", bob.uid)) + "." + strings.Split(aliceToken, ".")[2],
			// Bob's uid, signed by a key that is not auth-api's, under auth-api's kid.
			"re-signed by a stranger": signES256(t, stranger, decodeJSON(t, head), withClaim(t, claims, "sub", bob.uid)),
			// Unsigned.
			"alg none": b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(withClaim(t, claims, "sub", bob.uid)) + ".",
			"garbage":  "not-a-token",
		} {
			t.Run(name, func(t *testing.T) {
				agent.expectNone(t, func() {
					expectUnauthorized(t, send(t, http.MethodGet, proxy.URL+"/api/chat", bearer(tok)))
				})
			})
		}
		// One over 8 KiB: nginx's own header limit (ingress-nginx's default
		// large_client_header_buffers too) answers 400 before any check.
		t.Run("oversized", func(t *testing.T) {
			agent.expectNone(t, func() {
				if a := send(t, http.MethodGet, proxy.URL+"/api/chat", bearer(strings.Repeat("a", 9<<10))); a.status != http.StatusBadRequest && a.status != http.StatusUnauthorized {
					t.Errorf("status %d, want 400 or 401", a.status)
				}
			})
		})
	})

	t.Run("a token revoked by logout never reaches the Agent", func(t *testing.T) {
		// Bob's token works through the proxy, then Bob logs out.
		got := agent.expectOne(t, func() {
			expectStatus(t, send(t, http.MethodGet, proxy.URL+"/api/chat", bearer(bobToken)), http.StatusOK)
		})
		if got.Get("X-User-ID") != bob.uid {
			t.Fatalf("before logout the Agent saw X-User-ID %q, want %q", got.Get("X-User-ID"), bob.uid)
		}
		logout := bearer(bobToken)
		logout.Set("Content-Type", "application/json")
		expectStatus(t, send(t, http.MethodPost, api+"/api/logout/", logout), http.StatusNoContent)
		// One replica: the replica that handled the logout denies at once.
		agent.expectNone(t, func() {
			expectUnauthorized(t, send(t, http.MethodGet, proxy.URL+"/api/chat", bearer(bobToken)))
		})
		// Alice's session is untouched.
		agent.expectOne(t, func() {
			expectStatus(t, send(t, http.MethodGet, proxy.URL+"/api/chat", bearer(aliceToken)), http.StatusOK)
		})
	})
}

// ---- the fake Agent ----

type fakeAgent struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []http.Header
}

func startAgent(t *testing.T) *fakeAgent {
	a := &fakeAgent{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		a.got = append(a.got, r.Header.Clone())
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAgent) addr() string { u, _ := url.Parse(a.srv.URL); return u.Host }

func (a *fakeAgent) take() []http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.got
	a.got = nil
	return out
}

// expectOne runs do and returns the headers of the one request the Agent got.
// nginx answers the client only after the Agent answered, so the request is
// recorded by the time do returns.
func (a *fakeAgent) expectOne(t *testing.T, do func()) http.Header {
	t.Helper()
	a.take()
	do()
	got := a.take()
	if len(got) != 1 {
		t.Fatalf("the Agent got %d requests, want 1", len(got))
	}
	return got[0]
}

// expectNone runs do and fails if the Agent got anything. nginx decides on the
// check's answer before it would open a connection to the Agent, so a request
// that got its 401 can no longer reach it.
func (a *fakeAgent) expectNone(t *testing.T, do func()) {
	t.Helper()
	a.take()
	do()
	if got := a.take(); len(got) != 0 {
		t.Fatalf("the Agent got %d requests (X-User-ID %q), want none", len(got), got[0].Values("X-User-Id"))
	}
}

// ---- users, login ----

type user struct{ uid, email, password string }

// seedUser inserts a verified account straight into the database, as the load
// tool does: the check's contract, not signup, is under test.
func seedUser(ctx context.Context, t *testing.T, dbURL, name string) user {
	t.Helper()
	u := user{email: name + "@ingress.test", password: "Ingress-" + name + "-Passw0rd"}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	hash := passhash.Hash(u.password, passhash.Params{MemoryKiB: 19456, Time: 2, Parallelism: 1})
	if err := conn.QueryRow(ctx, `
		INSERT INTO users (uid, username, email, password_hash, verified_at)
		VALUES (gen_random_uuid(), $1, $2, $3, now()) RETURNING uid::text`, name, u.email, hash).Scan(&u.uid); err != nil {
		t.Fatalf("seed %s: %v", name, err)
	}
	return u
}

func login(t *testing.T, api string, u user) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"email": u.email, "password": u.password})
	resp, err := client.Post(api+"/api/login/", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AuthID      string `json:"auth_id"`
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %s (%v)", u.email, resp.Status, err)
	}
	if body.AccessToken == "" || body.TokenType != "Bearer" || body.AuthID != u.uid {
		t.Fatalf("login %s: no Bearer access token for %s in the answer", u.email, u.uid)
	}
	return body.AccessToken
}

// ---- HTTP ----

var client = &http.Client{Timeout: 30 * time.Second}

type answer struct {
	status int
	header http.Header
}

func send(t *testing.T, method, url string, h http.Header) answer {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{}`)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		// Set the map directly so a lower-case spelling goes out as written.
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func expectStatus(t *testing.T, a answer, want int) {
	t.Helper()
	if a.status != want {
		t.Fatalf("status %d, want %d", a.status, want)
	}
}

// expectUnauthorized: nginx passes the check's 401 and its WWW-Authenticate on.
func expectUnauthorized(t *testing.T, a answer) {
	t.Helper()
	expectStatus(t, a, http.StatusUnauthorized)
	if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", a.header.Get("WWW-Authenticate"))
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// ---- keys and tokens ----

// writeES256Key writes a one-key bundle (PKCS#8 P-256) for JWT_SIGNING_KEYS_FILE.
func writeES256Key(t *testing.T, path string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func splitJWT(t *testing.T, tok string) (head string, claims map[string]any, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("the access token is not a compact JWS (%d parts)", len(parts))
	}
	return parts[0], decodeJSON(t, parts[1]), parts[2]
}

func decodeJSON(t *testing.T, part string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func withClaim(t *testing.T, claims map[string]any, k string, v any) []byte {
	t.Helper()
	c := make(map[string]any, len(claims))
	for kk, vv := range claims {
		c[kk] = vv
	}
	c[k] = v
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signES256 makes a well-formed ES256 JWS (RFC 7518 §3.4: r‖s, 32 bytes each)
// with any key: the attacker's half of a forgery.
func signES256(t *testing.T, k *ecdsa.PrivateKey, head map[string]any, claims []byte) string {
	t.Helper()
	hb, _ := json.Marshal(head)
	input := b64(hb) + "." + b64(claims)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}
