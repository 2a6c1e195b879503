package tokens_test

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// fuzzNow is the instant the seed corpus's valid token was issued at; the
// key in testdata exists only to sign that corpus.
var fuzzNow = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

// FuzzVerify: whatever the bytes, Verify neither panics nor accepts a token
// it could not have issued. The named seeds in testdata/fuzz/FuzzVerify (a
// valid token and the classic attacks on it) run in every `go test`.
func FuzzVerify(f *testing.F) {
	bundle, err := os.ReadFile("testdata/fuzz-key.pem")
	if err != nil {
		f.Fatal(err)
	}
	ks, err := tokens.ParseKeys(bundle)
	if err != nil {
		f.Fatal(err)
	}
	a := tokens.NewAuthority(ks, cfg, func() time.Time { return fuzzNow })
	valid, err := os.ReadFile("testdata/fuzz/FuzzVerify/valid")
	if err != nil {
		f.Fatal(err)
	}
	if tok := seedString(valid); tok == "" {
		f.Fatal("testdata/fuzz/FuzzVerify/valid is not a string seed")
	} else if _, err := a.Verify(tok); err != nil {
		f.Fatalf("the valid seed no longer verifies (regenerate it with the current format): %v", err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := a.Verify(token)
		if err != nil {
			if !errors.Is(err, tokens.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(token) > tokens.MaxTokenBytes || c.UID == "" || c.SessionID == "" || !c.ExpiresAt.Add(cfg.Leeway).After(fuzzNow) {
			t.Fatalf("accepted %q as %+v", token, c)
		}
	})
}

// seedString reads a one-string corpus file ("go test fuzz v1" format).
func seedString(file []byte) string {
	lines := strings.Split(strings.TrimSpace(string(file)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "string(") {
		return ""
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
	if err != nil {
		return ""
	}
	return s
}
