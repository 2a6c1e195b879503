package tokens_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

func generate(t testing.TB, kind string) []byte {
	t.Helper()
	p, err := tokens.Generate(kind)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func publicPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestGenerateAndParse(t *testing.T) {
	for _, tc := range []struct{ kind, alg string }{{"", "ES256"}, {"es256", "ES256"}, {"ED25519", "EdDSA"}} {
		t.Run(tc.kind, func(t *testing.T) {
			ks, err := tokens.ParseKeys(generate(t, tc.kind))
			if err != nil {
				t.Fatal(err)
			}
			k := ks.Signing()
			if k.Alg != tc.alg || len(k.ID) != 43 {
				t.Fatalf("alg %q kid %q, want %s and a 43-character thumbprint", k.Alg, k.ID, tc.alg)
			}
		})
	}
	if _, err := tokens.Generate("rsa"); err == nil {
		t.Fatal("Generate(rsa) succeeded")
	}
}

// RFC 8037 appendix A.3 gives the thumbprint of its Ed25519 example key.
func TestThumbprintMatchesRFC8037(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	bundle := append(generate(t, "es256"), publicPEM(t, ed25519.PublicKey(x))...)
	ks, err := tokens.ParseKeys(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.Keys()[1].ID; got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("thumbprint %q", got)
	}
}

func TestKIDFromPEMHeader(t *testing.T) {
	b, _ := pem.Decode(generate(t, "ed25519"))
	b.Headers = map[string]string{"kid": "2026-12"}
	ks, err := tokens.ParseKeys(pem.EncodeToMemory(b))
	if err != nil {
		t.Fatal(err)
	}
	if ks.Signing().ID != "2026-12" {
		t.Fatalf("kid %q, want the header's", ks.Signing().ID)
	}
}

func TestParseKeysRefuses(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p384)
	one := generate(t, "es256")
	withKID := func(p []byte, kid string) []byte {
		b, _ := pem.Decode(p)
		b.Headers = map[string]string{"kid": kid}
		return pem.EncodeToMemory(b)
	}
	for name, bundle := range map[string][]byte{
		"empty":            nil,
		"not PEM":          []byte("hello"),
		"RSA":              pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}),
		"P-384":            pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER}),
		"SEC1 P-384":       pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"corrupt PKCS#8":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"public key first": append(publicPEM(t, &p256.PublicKey), one...),
		"same key twice":   append(append([]byte{}, one...), one...),
		"same kid twice":   append(withKID(one, "a"), withKID(generate(t, "ed25519"), "a")...),
		"trailing garbage": append(append([]byte{}, one...), "oops"...),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tokens.ParseKeys(bundle)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Fatalf("error quotes key material: %v", err)
			}
		})
	}
}

func TestJWKSAndDiscovery(t *testing.T) {
	retired, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bundle := append(append(generate(t, "es256"), generate(t, "ed25519")...), publicPEM(t, &retired.PublicKey)...)
	ks, err := tokens.ParseKeys(bundle)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ks.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []tokens.JWK }
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 3 {
		t.Fatalf("%d keys published, want current, next and retired", len(set.Keys))
	}
	for i, j := range set.Keys {
		if j.Kid != ks.Keys()[i].ID || j.Use != "sig" || len(j.X) != 43 {
			t.Fatalf("key %d: %+v", i, j)
		}
		if (j.Kty == "EC") != (len(j.Y) == 43) || (j.Kty == "EC") != (j.Alg == "ES256") {
			t.Fatalf("key %d: %+v", i, j)
		}
	}
	if bytes.Contains(raw, []byte(`"d"`)) {
		t.Fatal("JWKS carries a private member")
	}

	raw, err = ks.Discovery("https://id.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != "https://id.example.com/" || doc["jwks_uri"] != "https://id.example.com/.well-known/jwks.json" {
		t.Fatalf("discovery %s", raw)
	}
	if algs := doc["id_token_signing_alg_values_supported"].([]any); len(algs) != 2 {
		t.Fatalf("algs %v, want ES256 and EdDSA once each", algs)
	}
}

// A SEC1 "EC PRIVATE KEY" (openssl ecparam, Helm's genPrivateKey "ecdsa")
// signs like its PKCS#8 form, under the same thumbprint.
func TestParseSEC1Key(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := tokens.ParseKeys(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tokens.ParseKeys(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Signing().Alg != "ES256" || a.Signing().ID != b.Signing().ID {
		t.Fatalf("SEC1: alg %q kid %q; PKCS#8 kid %q", a.Signing().Alg, a.Signing().ID, b.Signing().ID)
	}
	if _, err := tokens.ParseKeys(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("junk")})); err == nil {
		t.Fatal("a junk SEC1 block parsed")
	}
}
