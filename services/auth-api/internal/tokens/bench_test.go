package tokens_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerify is the whole of Verify (parse, kid lookup, signature,
// claims); BenchmarkRawSignature is the signature check alone on the same
// token. The ingress check's floor is stated against the raw rate, so the
// gap between the two is what the JWT layer costs. "cached" is Verify of a
// token it has verified before: what the service pays per request while a
// token is in use.
func BenchmarkVerify(b *testing.B) {
	for _, bb := range []struct {
		kind  string
		cache int
	}{{"es256", 0}, {"ed25519", 0}, {"es256 cached", 16}} {
		b.Run(bb.kind, func(b *testing.B) {
			c := &clock{time.Now()}
			a := cachingAuthority(b, generate(b, strings.Fields(bb.kind)[0]), c, bb.cache)
			tok, _, err := a.Issue(uid, sid, true)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.Verify(tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkRawSignature(b *testing.B) {
	for _, kind := range []string{"es256", "ed25519"} {
		b.Run(kind, func(b *testing.B) {
			c := &clock{time.Now()}
			bundle := generate(b, kind)
			a := authority(b, bundle, c)
			tok, _, err := a.Issue(uid, sid, true)
			if err != nil {
				b.Fatal(err)
			}
			i := strings.LastIndexByte(tok, '.')
			signed := []byte(tok[:i])
			sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
			pub := a.Keys().Signing().Public
			verify := rawVerifier(b, pub)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !verify(signed, sig) {
						b.Fatal("signature does not verify")
					}
				}
			})
		})
	}
}

func rawVerifier(b *testing.B, pub crypto.PublicKey) func(msg, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return func(msg, sig []byte) bool {
			// JWS ES256 signatures are r||s, 32 bytes each.
			h := sha256.Sum256(msg)
			return ecdsaVerifyRS(k, h[:], sig)
		}
	case ed25519.PublicKey:
		return func(msg, sig []byte) bool { return ed25519.Verify(k, msg, sig) }
	}
	b.Fatalf("key type %T", pub)
	return nil
}

func ecdsaVerifyRS(k *ecdsa.PublicKey, hash, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(k, hash, r, s)
}
