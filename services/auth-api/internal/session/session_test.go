package session_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/session"
)

func TestRefreshTokenAndSealedSuccessor(t *testing.T) {
	prev, prevHash, err := session.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	next, _, _ := session.NewRefreshToken()
	if len(prev) != 43 || !bytes.Equal(prevHash, session.HashRefresh(prev)) || prev == next {
		t.Fatalf("token %q hash %x", prev, prevHash)
	}
	sealed, err := session.Seal(prev, next)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(next)) {
		t.Fatal("sealed successor contains its plaintext")
	}
	if got, err := session.Open(prev, sealed); err != nil || got != next {
		t.Fatalf("Open = %q, %v; want the successor", got, err)
	}
	for name, tc := range map[string]struct {
		key    string
		sealed []byte
	}{
		"another token":      {next, sealed},
		"the stored hash":    {string(prevHash), sealed},
		"tampered":           {prev, append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1)},
		"shorter than nonce": {prev, sealed[:5]},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := session.Open(tc.key, tc.sealed); err == nil {
				t.Fatal("opened")
			}
		})
	}
}

func TestStartedAtReadsTheID(t *testing.T) {
	before := time.Now().Truncate(time.Millisecond)
	id, err := session.NewID()
	if err != nil {
		t.Fatal(err)
	}
	at, ok := session.StartedAt(id)
	if !ok || at.Before(before) || at.After(time.Now()) {
		t.Fatalf("StartedAt(%s) = %v, %v; want between %v and now", id, at, ok, before)
	}
	for _, bad := range []string{"", "nope", "6ba7b810-9dad-41d1-80b4-00c04fd430c8"} {
		if _, ok := session.StartedAt(bad); ok {
			t.Fatalf("StartedAt(%q) ok", bad)
		}
	}
}
