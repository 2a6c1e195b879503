package auth_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// FuzzTokenHash: whatever arrives in a verify link, parsing never panics, and
// it accepts only one spelling of a 32-byte secret: the canonical unpadded
// base64url that encodes it back to the same string.
func FuzzTokenHash(f *testing.F) {
	valid := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for _, seed := range []string{
		valid, "", "=", valid + "=", valid[:42], valid + "A",
		valid[:42] + "B", // non-canonical: same bytes, other trailing bits
		strings.Replace(valid, "A", "+", 1), strings.Replace(valid, "A", "/", 1),
		"550e8400-e29b-41d4-a716-446655440000", // the seed's old UUID links
		"%00", "../../etc/passwd", "\xff\xfe",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		hash, err := auth.TokenHash(secret)
		if err != nil {
			if !errors.Is(err, auth.ErrTokenInvalid) {
				t.Fatalf("TokenHash(%q) = %v, want ErrTokenInvalid", secret, err)
			}
			return
		}
		raw, decErr := base64.RawURLEncoding.DecodeString(secret)
		if decErr != nil || len(raw) != 32 || len(hash) != 32 {
			t.Fatalf("TokenHash accepted %q (decodes to %d bytes, %v)", secret, len(raw), decErr)
		}
		if again := base64.RawURLEncoding.EncodeToString(raw); again != secret {
			t.Fatalf("TokenHash accepted the non-canonical %q (canonical %q)", secret, again)
		}
	})
}
