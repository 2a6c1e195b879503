// Package tokens issues and verifies auth-api's access tokens: JWTs signed
// with an asymmetric key (ES256 on P-256 by default, EdDSA on Ed25519) and
// checked offline by anybody holding the published keys (JWKS).
//
// Signing and verification are golang-jwt/jwt/v5's; this package adds what a
// library cannot decide for us: which key signs, which keys verify, the one
// algorithm each key accepts, and the claims an access token must carry.
package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Key types accepted by Generate (the values of `keys generate --type`).
const (
	TypeES256   = "es256"
	TypeEd25519 = "ed25519"
)

// JOSE algorithm names of the two key types.
const (
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// pemKIDHeader is the optional PEM header that names a key's kid; without it
// the kid is the key's RFC 7638 thumbprint.
const pemKIDHeader = "kid"

// Generate returns a new private key of the given type ("" means es256) as a
// PKCS#8 PEM block, the form JWT_SIGNING_KEYS expects.
func Generate(kind string) ([]byte, error) {
	var key crypto.Signer
	switch strings.ToLower(kind) {
	case "", TypeES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		key = k
	case TypeEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		key = k
	default:
		return nil, fmt.Errorf("unknown key type %q (want %s or %s)", kind, TypeES256, TypeEd25519)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Key is one entry of the bundle: a public key with its kid and the only
// algorithm tokens under that kid may use.
type Key struct {
	ID     string
	Alg    string
	Public crypto.PublicKey
	signer crypto.Signer // nil for keys published for verification only
}

// KeySet is the parsed bundle. The first key signs; every key verifies and is
// published in the JWKS (next keys before they sign, retired keys while
// tokens they signed may still be valid).
type KeySet struct {
	keys []Key
	byID map[string]*Key
}

// ParseKeys reads a PEM bundle of PKCS#8 private keys ("PRIVATE KEY", or
// SEC1 "EC PRIVATE KEY") and,
// for retired keys whose private half is gone, PKIX public keys ("PUBLIC
// KEY"). The first block must be a private key. Errors never quote key
// material.
func ParseKeys(bundle []byte) (*KeySet, error) {
	ks := &KeySet{byID: map[string]*Key{}}
	seen := map[string]bool{}
	rest := bundle
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		k, err := parseBlock(block)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", n, err)
		}
		if n == 1 && k.signer == nil {
			return nil, errors.New("key 1: the first key signs, so it must be a private key")
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("key %d: kid %q appears twice", n, k.ID)
		}
		seen[k.ID] = true
		ks.keys = append(ks.keys, k)
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("no PEM key found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("trailing data after the last PEM block")
	}
	for i := range ks.keys {
		ks.byID[ks.keys[i].ID] = &ks.keys[i]
	}
	return ks, nil
}

func parseBlock(b *pem.Block) (Key, error) {
	var k Key
	switch b.Type {
	case "PRIVATE KEY":
		priv, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return Key{}, errors.New("not a valid PKCS#8 private key")
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return Key{}, errors.New("unsupported private key type")
		}
		k.signer, k.Public = signer, signer.Public()
	case "EC PRIVATE KEY":
		// SEC1, as openssl ecparam and Helm's genPrivateKey "ecdsa" write it.
		priv, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return Key{}, errors.New("not a valid SEC1 EC private key")
		}
		k.signer, k.Public = priv, priv.Public()
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return Key{}, errors.New("not a valid PKIX public key")
		}
		k.Public = pub
	default:
		return Key{}, fmt.Errorf("PEM type %q: want PRIVATE KEY (PKCS#8) or PUBLIC KEY", b.Type)
	}
	switch pub := k.Public.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return Key{}, errors.New("ECDSA keys must be on P-256 (ES256)")
		}
		k.Alg = AlgES256
	case ed25519.PublicKey:
		k.Alg = AlgEdDSA
	default:
		return Key{}, fmt.Errorf("unsupported key type %T (want ECDSA P-256 or Ed25519)", k.Public)
	}
	k.ID = b.Headers[pemKIDHeader]
	if k.ID == "" {
		jwk, err := publicJWK(k)
		if err != nil {
			return Key{}, err
		}
		k.ID = thumbprint(jwk)
	}
	return k, nil
}

// Signing returns the key that signs new tokens.
func (ks *KeySet) Signing() Key { return ks.keys[0] }

// Keys returns every key in bundle order (signing key first).
func (ks *KeySet) Keys() []Key { return append([]Key(nil), ks.keys...) }

func (ks *KeySet) lookup(kid string) (*Key, bool) {
	k, ok := ks.byID[kid]
	return k, ok
}

// thumbprint is the RFC 7638 JWK thumbprint: SHA-256 over the required
// members in lexicographic order with no whitespace, base64url.
func thumbprint(j JWK) string {
	var canonical string
	switch j.Kty {
	case "EC":
		canonical = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	default: // OKP
		canonical = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, j.Crv, j.X)
	}
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
