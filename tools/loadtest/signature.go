package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// signatureRate verifies token's signature with its key from auth-api's
// JWKS on every core for d and returns verifications per second: the
// ceiling of the ingress check, which does this and a little more (claims,
// deny-list) per request. Only the signature: no JSON, no claims.
func signatureRate(ctx context.Context, apiBase, token string, d time.Duration) (float64, string, error) {
	verify, alg, err := signatureVerifier(ctx, apiBase, token)
	if err != nil {
		return 0, "", err
	}
	if !verify() {
		return 0, "", errors.New("signature rate: the token does not verify under its JWKS key")
	}
	_, rate := onEveryCore(ctx, d, func() { verify() })
	return rate, alg, nil
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Kid string `json:"kid"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// signatureVerifier returns a function that checks token's signature the
// way the verifier must (hash of the signing input, then the curve), with
// the JWKS key its kid names.
func signatureVerifier(ctx context.Context, apiBase, token string) (func() bool, string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, "", errors.New("signature rate: not a compact JWS")
	}
	var head struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &head) != nil {
		return nil, "", errors.New("signature rate: unreadable JWS header")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, "", err
	}
	resp, err := fetch(ctx, apiBase+"/.well-known/jwks.json")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, "", fmt.Errorf("signature rate: JWKS: %w", err)
	}
	input := []byte(parts[0] + "." + parts[1])
	for _, k := range set.Keys {
		if k.Kid != head.Kid {
			continue
		}
		x, errX := base64.RawURLEncoding.DecodeString(k.X)
		switch {
		case errX != nil:
			return nil, "", errX
		case head.Alg == "ES256" && k.Kty == "EC" && k.Crv == "P-256" && len(sig) == 64:
			y, err := base64.RawURLEncoding.DecodeString(k.Y)
			if err != nil {
				return nil, "", err
			}
			pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			return func() bool {
				sum := sha256.Sum256(input)
				return ecdsa.Verify(pub, sum[:], r, s)
			}, head.Alg, nil
		case head.Alg == "EdDSA" && k.Kty == "OKP" && k.Crv == "Ed25519":
			pub := ed25519.PublicKey(x)
			return func() bool { return ed25519.Verify(pub, input, sig) }, head.Alg, nil
		default:
			return nil, "", fmt.Errorf("signature rate: alg %s with a %s/%s key", head.Alg, k.Kty, k.Crv)
		}
	}
	return nil, "", fmt.Errorf("signature rate: kid %q is not in the JWKS", head.Kid)
}
