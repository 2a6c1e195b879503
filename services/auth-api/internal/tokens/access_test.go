package tokens_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

var cfg = tokens.Config{Issuer: "https://id.example.com", Audience: "kairos", TTL: 10 * time.Minute, Leeway: 5 * time.Second}

const (
	uid = "0193a4c6-0000-7000-8000-000000000001"
	sid = "0193a4c6-0000-7000-8000-000000000002"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func authority(t testing.TB, bundle []byte, c *clock) *tokens.Authority {
	t.Helper()
	return cachingAuthority(t, bundle, c, 0)
}

// cachingAuthority is an authority remembering up to cache verified tokens.
func cachingAuthority(t testing.TB, bundle []byte, c *clock, cache int) *tokens.Authority {
	t.Helper()
	ks, err := tokens.ParseKeys(bundle)
	if err != nil {
		t.Fatal(err)
	}
	withCache := cfg
	withCache.VerifiedCache = cache
	return tokens.NewAuthority(ks, withCache, c.now)
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	for _, kind := range []string{"es256", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			c := &clock{time.Date(2026, 12, 2, 3, 0, 0, 500, time.UTC)}
			a := authority(t, generate(t, kind), c)
			tok, issued, err := a.Issue(uid, sid, true)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got != issued || got.UID != uid || got.SessionID != sid || !got.EmailVerified ||
				got.ExpiresAt.Sub(got.IssuedAt) != cfg.TTL || got.ID == "" {
				t.Fatalf("verified %+v, issued %+v", got, issued)
			}
			_, again, _ := a.Issue(uid, sid, true)
			if again.ID == issued.ID {
				t.Fatal("two tokens share a jti")
			}
			hdr, payload := decodeParts(t, tok)
			if hdr["kid"] != a.Keys().Signing().ID || hdr["alg"] != a.Keys().Signing().Alg {
				t.Fatalf("header %v", hdr)
			}
			if payload["aud"] != cfg.Audience {
				t.Fatalf("aud %v, want the plain string %q", payload["aud"], cfg.Audience)
			}
			for _, claim := range []string{"iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti", "email_verified"} {
				if _, ok := payload[claim]; !ok {
					t.Fatalf("claim %s missing from %v", claim, payload)
				}
			}
		})
	}
}

func decodeParts(t *testing.T, tok string) (hdr, payload map[string]any) {
	t.Helper()
	p := jwt.NewParser()
	parsed, _, err := p.ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Header, parsed.Claims.(jwt.MapClaims)
}

// forge signs arbitrary claims and header with an arbitrary method and key.
func forge(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every bad token is refused, with and without the cache of verified
// tokens (warmed with the valid token the bad ones are made from).
func TestVerifyRefuses(t *testing.T) {
	for _, cache := range []int{0, tokens.DefaultVerifiedCache} {
		t.Run(fmt.Sprintf("cache %d", cache), func(t *testing.T) { testVerifyRefuses(t, cache) })
	}
}

func testVerifyRefuses(t *testing.T, cache int) {
	c := &clock{time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}
	esPEM, edPEM := generate(t, "es256"), generate(t, "ed25519")
	a := cachingAuthority(t, append(append([]byte{}, esPEM...), edPEM...), c, cache)
	esKey := parsePrivate(t, esPEM).(*ecdsa.PrivateKey)
	edKey := parsePrivate(t, edPEM).(ed25519.PrivateKey)
	esKID, edKID := a.Keys().Keys()[0].ID, a.Keys().Keys()[1].ID
	stranger := parsePrivate(t, generate(t, "es256"))

	now := c.t.Unix()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": cfg.Issuer, "aud": cfg.Audience, "sub": uid, "sid": sid,
			"iat": now, "nbf": now, "exp": now + 600, "jti": "j"}
	}
	with := func(k string, v any) jwt.MapClaims {
		m := good()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	valid := forge(t, jwt.SigningMethodES256, esKey, esKID, good())
	if _, err := a.Verify(valid); err != nil {
		t.Fatalf("the baseline forged token must verify: %v", err)
	}
	pubDER := publicPEM(t, esKey.Public())
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)

	cases := map[string]string{
		"alg none":                    noneTok,
		"alg none with kid":           strings.Replace(noneTok, noneTok[:strings.IndexByte(noneTok, '.')], b64json(t, map[string]any{"alg": "none", "kid": esKID}), 1),
		"HS256 keyed with public key": forge(t, jwt.SigningMethodHS256, pubDER, esKID, good()),
		"EdDSA under the ES256 kid":   forge(t, jwt.SigningMethodEdDSA, edKey, esKID, good()),
		"ES256 under the EdDSA kid":   forge(t, jwt.SigningMethodES256, esKey, edKID, good()),
		"ES384 under the ES256 kid":   forge(t, jwt.SigningMethodES384, mustP384(t), esKID, good()),
		"unknown kid":                 forge(t, jwt.SigningMethodES256, esKey, "nope", good()),
		"no kid":                      forge(t, jwt.SigningMethodES256, esKey, "", good()),
		"re-signed by a stranger":     forge(t, jwt.SigningMethodES256, stranger, esKID, good()),
		"wrong audience":              forge(t, jwt.SigningMethodES256, esKey, esKID, with("aud", "other")),
		"audience array":              forge(t, jwt.SigningMethodES256, esKey, esKID, with("aud", []string{"other", cfg.Audience})),
		"no audience":                 forge(t, jwt.SigningMethodES256, esKey, esKID, with("aud", nil)),
		"wrong issuer":                forge(t, jwt.SigningMethodES256, esKey, esKID, with("iss", "https://evil.example")),
		"expired":                     forge(t, jwt.SigningMethodES256, esKey, esKID, with("exp", now-60)),
		"no exp":                      forge(t, jwt.SigningMethodES256, esKey, esKID, with("exp", nil)),
		"nbf in the future":           forge(t, jwt.SigningMethodES256, esKey, esKID, with("nbf", now+3600)),
		"iat in the future":           forge(t, jwt.SigningMethodES256, esKey, esKID, with("iat", now+3600)),
		"no iat":                      forge(t, jwt.SigningMethodES256, esKey, esKID, with("iat", nil)),
		"no sub":                      forge(t, jwt.SigningMethodES256, esKey, esKID, with("sub", nil)),
		"no sid":                      forge(t, jwt.SigningMethodES256, esKey, esKID, with("sid", nil)),
		"exp as a string":             forge(t, jwt.SigningMethodES256, esKey, esKID, with("exp", "tomorrow")),
		"oversized":                   forge(t, jwt.SigningMethodES256, esKey, esKID, with("pad", strings.Repeat("a", tokens.MaxTokenBytes))),
		"truncated":                   valid[:len(valid)-10],
		"signature stripped":          valid[:strings.LastIndexByte(valid, '.')+1],
		"payload swapped":             swapPayload(t, valid, with("sub", "someone-else")),
		"two parts":                   valid[:strings.LastIndexByte(valid, '.')],
		"empty":                       "",
		"garbage":                     "not.a.jwt",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := a.Verify(tok)
			if !errors.Is(err, tokens.ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
			if (name == "expired") != errors.Is(err, tokens.ErrExpired) {
				t.Fatalf("Verify = %v: ErrExpired only for the expired token", err)
			}
		})
	}
}

// A cached verdict lasts until the token's exp and no further, is given
// only for the exact token string, and survives eviction as a full
// verification.
func TestVerifiedCache(t *testing.T) {
	c := &clock{time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}
	a := cachingAuthority(t, generate(t, "es256"), c, 2)
	var toks []string
	var issued []tokens.Claims
	for range 3 {
		tok, cl, err := a.Issue(uid, sid, true)
		if err != nil {
			t.Fatal(err)
		}
		toks, issued = append(toks, tok), append(issued, cl)
	}
	for round := range 2 { // the second round is served from the cache or, past its size, in full
		for i, tok := range toks {
			if got, err := a.Verify(tok); err != nil || got != issued[i] {
				t.Fatalf("round %d, token %d: %+v, %v", round, i, got, err)
			}
		}
	}
	for name, bad := range map[string]string{
		"payload swapped":   swapPayload(t, toks[0], jwt.MapClaims{"sub": "someone-else"}),
		"one byte appended": toks[0] + "A",
		"truncated":         toks[0][:len(toks[0])-1],
	} {
		if _, err := a.Verify(bad); !errors.Is(err, tokens.ErrInvalid) {
			t.Errorf("%s of a cached token: %v, want ErrInvalid", name, err)
		}
	}
	c.t = issued[2].ExpiresAt // exp reached: only the leeway keeps it valid, and only in full
	if _, err := a.Verify(toks[2]); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	c.t = c.t.Add(cfg.Leeway + time.Second)
	if _, err := a.Verify(toks[2]); !errors.Is(err, tokens.ErrExpired) {
		t.Fatalf("cached token past exp and leeway: %v, want ErrExpired", err)
	}
}

// The rotation procedure: next key published, promoted, old key retired
// (public half only), then dropped once its last token has expired.
func TestKeyRotation(t *testing.T) {
	c := &clock{time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}
	oldPEM, nextPEM := generate(t, "es256"), generate(t, "ed25519")
	oldKey := parsePrivate(t, oldPEM)

	before := authority(t, append(append([]byte{}, oldPEM...), nextPEM...), c)
	tok, _, err := before.Issue(uid, sid, false)
	if err != nil {
		t.Fatal(err)
	}
	promoted := authority(t, append(append([]byte{}, nextPEM...), publicPEM(t, oldKey.(*ecdsa.PrivateKey).Public())...), c)
	if _, err := promoted.Verify(tok); err != nil {
		t.Fatalf("token of the retired key before expiry: %v", err)
	}
	newTok, _, _ := promoted.Issue(uid, sid, false)
	if h, _ := decodeParts(t, newTok); h["alg"] != "EdDSA" {
		t.Fatalf("promoted bundle signs with %v", h["alg"])
	}
	if _, err := before.Verify(newTok); err != nil {
		t.Fatalf("replicas still on the old bundle must accept the next key's tokens: %v", err)
	}

	c.t = c.t.Add(cfg.TTL + cfg.Leeway + time.Second)
	if _, err := promoted.Verify(tok); !errors.Is(err, tokens.ErrExpired) {
		t.Fatalf("retired key's token after its expiry: %v", err)
	}
	c.t = c.t.Add(-cfg.TTL)
	retired := authority(t, nextPEM, c)
	if _, err := retired.Verify(tok); !errors.Is(err, tokens.ErrInvalid) {
		t.Fatalf("token of a key no longer in the bundle: %v", err)
	}
}

func swapPayload(t *testing.T, tok string, claims jwt.MapClaims) string {
	parts := strings.Split(tok, ".")
	b, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func b64json(t *testing.T, v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parsePrivate(t *testing.T, p []byte) any {
	t.Helper()
	b, _ := pem.Decode(p)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustP384(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
