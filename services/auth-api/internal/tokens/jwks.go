package tokens

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// JWK is the public half of a key as published (RFC 7517, RFC 8037 for OKP).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

func publicJWK(k Key) (JWK, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := k.Public.(type) {
	case *ecdsa.PublicKey:
		ec, err := pub.ECDH()
		if err != nil {
			return JWK{}, err
		}
		raw := ec.Bytes() // 0x04 || X || Y, 32 bytes each on P-256
		return JWK{Kty: "EC", Crv: "P-256", X: b64(raw[1:33]), Y: b64(raw[33:]), Kid: k.ID, Alg: k.Alg, Use: "sig"}, nil
	case ed25519.PublicKey:
		return JWK{Kty: "OKP", Crv: "Ed25519", X: b64(pub), Kid: k.ID, Alg: k.Alg, Use: "sig"}, nil
	}
	return JWK{}, fmt.Errorf("unsupported key type %T", k.Public)
}

// JWKS renders the JSON Web Key Set of every key in the bundle: the current
// signing key, next keys and retired keys alike, since a verifier must accept
// tokens from any of them until they expire.
func (ks *KeySet) JWKS() ([]byte, error) {
	set := struct {
		Keys []JWK `json:"keys"`
	}{Keys: make([]JWK, 0, len(ks.keys))}
	for _, k := range ks.keys {
		j, err := publicJWK(k)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}

// Discovery renders a minimal OpenID Provider configuration: enough for a
// gateway given only the issuer URL to find the JWKS and the algorithms. We
// issue access tokens, not ID tokens, so no authorization or token endpoints
// are advertised.
func (ks *KeySet) Discovery(issuer string) ([]byte, error) {
	var algs []string
	for _, k := range ks.keys {
		if !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	return json.Marshal(struct {
		Issuer    string   `json:"issuer"`
		JWKSURI   string   `json:"jwks_uri"`
		Algs      []string `json:"id_token_signing_alg_values_supported"`
		Subjects  []string `json:"subject_types_supported"`
		Responses []string `json:"response_types_supported"`
		Claims    []string `json:"claims_supported"`
	}{
		Issuer:    issuer,
		JWKSURI:   strings.TrimRight(issuer, "/") + "/.well-known/jwks.json",
		Algs:      algs,
		Subjects:  []string{"public"},
		Responses: []string{"token"},
		Claims:    []string{"iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti", "email_verified"},
	})
}
