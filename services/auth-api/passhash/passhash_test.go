package passhash_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// upstream is the PHC string golang.org/x/crypto/argon2 makes for password
// with p and a random salt: the reference the kept-memory hashing must agree
// with both ways.
func upstream(t *testing.T, password string, p passhash.Params) string {
	t.Helper()
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Parallelism, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.MemoryKiB, p.Time, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// One Memory goes through hashes of every size, larger and smaller than the
// one before, so each starts from what the last left behind.
func TestKeptMemoryAgreesWithUpstream(t *testing.T) {
	tests := []struct {
		name string
		p    passhash.Params
	}{
		{"small", passhash.Params{MemoryKiB: 64, Time: 1, Parallelism: 1}},
		{"larger, more passes", passhash.Params{MemoryKiB: 1024, Time: 3, Parallelism: 1}},
		{"smaller again, two lanes", passhash.Params{MemoryKiB: 256, Time: 2, Parallelism: 2}},
		{"OWASP minimum", passhash.Params{MemoryKiB: passhash.MinMemoryKiB, Time: passhash.MinTime, Parallelism: passhash.MinParallelism}},
		{"odd size, four lanes", passhash.Params{MemoryKiB: 1000, Time: 2, Parallelism: 4}},
	}
	var mem passhash.Memory
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := passhash.Parse(upstream(t, "correct horse", tt.p))
			if err != nil {
				t.Fatal(err)
			}
			if !stored.MatchesIn(&mem, "correct horse") || stored.MatchesIn(&mem, "battery staple") {
				t.Fatal("kept memory disagrees with x/crypto/argon2 on an upstream hash")
			}
			ours, err := passhash.Parse(passhash.HashIn(&mem, "correct horse", tt.p))
			if err != nil {
				t.Fatal(err)
			}
			// Matches with fresh memory, as upstream computes.
			if !ours.Matches("correct horse") || ours.Matches("battery staple") {
				t.Fatal("a hash made in kept memory does not verify with fresh memory")
			}
		})
	}
	if mem.KiB() < passhash.MinMemoryKiB {
		t.Fatalf("memory holds %d KiB after a %d KiB hash", mem.KiB(), passhash.MinMemoryKiB)
	}
}
