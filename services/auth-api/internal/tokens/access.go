package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds what Verify will parse. An access token is ~400 bytes;
// anything near the 8 KiB header limit of common proxies is hostile.
const MaxTokenBytes = 8 << 10

// Errors from Verify. Every failure wraps ErrInvalid (the check answers 401
// for all of them); an expired token also wraps ErrExpired, so metrics can
// tell the common case from attacks.
var (
	ErrInvalid = errors.New("tokens: invalid access token")
	ErrExpired = errors.New("tokens: access token expired")
)

// Config is what an access token says about its issuer.
type Config struct {
	Issuer   string        // iss: PUBLIC_URL
	Audience string        // aud: JWT_AUDIENCE
	TTL      time.Duration // exp - iat: ACCESS_TOKEN_TTL
	// Leeway tolerates clock skew between the replica that signed and the
	// one that verifies, on exp, nbf and iat alike.
	Leeway time.Duration
	// VerifiedCache is how many verified tokens Verify remembers until
	// their exp (DefaultVerifiedCache in the service); 0 verifies every
	// call in full.
	VerifiedCache int
}

// Claims are the facts an access token carries.
type Claims struct {
	UID           string // sub
	SessionID     string // sid
	EmailVerified bool
	ID            string // jti
	IssuedAt      time.Time
	ExpiresAt     time.Time
}

// Authority issues and verifies access tokens with one key set.
type Authority struct {
	keys   *KeySet
	cfg    Config
	now    func() time.Time
	parser *jwt.Parser
	cache  *verifiedCache // nil: none
}

// wireClaims is the JSON form of Claims. aud is written as a plain string
// (golang-jwt would write a one-element array), which every verifier reads
// and the simplest string comparison in a gateway matches; a token whose aud
// is an array is not ours and fails to decode.
type wireClaims struct {
	jwt.RegisteredClaims
	Audience      string `json:"aud"`
	SessionID     string `json:"sid"`
	EmailVerified bool   `json:"email_verified"`
}

// GetAudience feeds the shadowed string aud to golang-jwt's validator.
func (c wireClaims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

// NewAuthority returns an Authority; now is the clock (time.Now in
// production, a fixed one in tests).
func NewAuthority(keys *KeySet, cfg Config, now func() time.Time) *Authority {
	algs := []string{}
	for _, k := range keys.keys {
		algs = append(algs, k.Alg)
	}
	return &Authority{
		keys:  keys,
		cfg:   cfg,
		now:   now,
		cache: newVerifiedCache(cfg.VerifiedCache),
		parser: jwt.NewParser(
			jwt.WithValidMethods(algs),
			jwt.WithAudience(cfg.Audience),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// Keys returns the key set (for the JWKS and discovery documents).
func (a *Authority) Keys() *KeySet { return a.keys }

// Issue signs an access token for a session with the current signing key.
func (a *Authority) Issue(uid, sessionID string, emailVerified bool) (string, Claims, error) {
	now := a.now().UTC().Truncate(time.Second)
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", Claims{}, err
	}
	c := Claims{
		UID: uid, SessionID: sessionID, EmailVerified: emailVerified,
		ID: base64.RawURLEncoding.EncodeToString(jti[:]), IssuedAt: now, ExpiresAt: now.Add(a.cfg.TTL),
	}
	key := a.keys.Signing()
	t := jwt.NewWithClaims(jwt.GetSigningMethod(key.Alg), wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.cfg.Issuer,
			Subject:   uid,
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        c.ID,
		},
		Audience:      a.cfg.Audience,
		SessionID:     sessionID,
		EmailVerified: emailVerified,
	})
	t.Header["kid"] = key.ID
	s, err := t.SignedString(key.signer)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign access token: %w", err)
	}
	return s, c, nil
}

// Verify checks a token's signature with the key its kid names, using only
// that key's algorithm (so "none", HS256 keyed with a public key and alg
// swaps between our own keys all fail), then iss, aud, exp, nbf and iat.
// A token that verified before and has not reached its exp is answered
// from the cache (verified.go) when there is one.
func (a *Authority) Verify(token string) (Claims, error) {
	if len(token) > MaxTokenBytes {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenBytes)
	}
	if a.cache == nil {
		return a.verify(token)
	}
	key := sha256.Sum256([]byte(token))
	if c, ok := a.cache.lru.Get(key); ok {
		// Strictly before exp, without the leeway: past it the full
		// verification decides (and tells an expired token apart).
		if a.now().Before(c.ExpiresAt) {
			return c, nil
		}
		a.cache.lru.Remove(key)
	}
	c, err := a.verify(token)
	if err == nil {
		a.cache.lru.Add(key, c)
	}
	return c, err
}

func (a *Authority) verify(token string) (Claims, error) {
	var wc wireClaims
	_, err := a.parser.ParseWithClaims(token, &wc, a.keyFor)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, ErrExpired)
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	case wc.Subject == "" || wc.SessionID == "" || wc.IssuedAt == nil:
		return Claims{}, fmt.Errorf("%w: sub, sid and iat are required", ErrInvalid)
	}
	return Claims{
		UID: wc.Subject, SessionID: wc.SessionID, EmailVerified: wc.EmailVerified, ID: wc.ID,
		IssuedAt: wc.IssuedAt.UTC(), ExpiresAt: wc.ExpiresAt.UTC(),
	}, nil
}

func (a *Authority) keyFor(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	k, ok := a.keys.lookup(kid)
	if !ok {
		return nil, errors.New("unknown kid")
	}
	if t.Method == nil || t.Method.Alg() != k.Alg {
		return nil, errors.New("algorithm does not match the key")
	}
	return k.Public, nil
}
