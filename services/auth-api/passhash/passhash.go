// Package passhash is the format auth-api stores passwords in: argon2id as
// a PHC string, $argon2id$v=19$m=…,t=…,p=…$salt$key (unpadded base64).
//
// It sits outside internal/ on purpose. The load tool (module tools) seeds
// accounts with hashes auth-api must accept, and Go lets no other module
// import an internal package; a copy of the format there would drift. The
// rest of hashing — the bounded slots, the admission gate, the metrics —
// is auth-api's own business and stays in internal/hashing.
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. The JSON names are the load
// report's.
type Params struct {
	MemoryKiB   uint32 `json:"memory_kib"`
	Time        uint32 `json:"time"`
	Parallelism uint8  `json:"parallelism"`
}

// The minimum the OWASP Password Storage Cheat Sheet recommends for argon2id:
// 19 MiB, 2 iterations, 1 lane. Config refuses anything weaker.
const (
	MinMemoryKiB   = 19 * 1024
	MinTime        = 2
	MinParallelism = 1
)

const (
	saltLen = 16
	keyLen  = 32
)

// Hash returns the PHC string of password with p and a fresh random salt.
func Hash(password string, p Params) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Parallelism, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.MemoryKiB, p.Time, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Stored is a parsed PHC string.
type Stored struct {
	params    Params
	salt, key []byte
}

// ErrFormat: the stored string is not an argon2id PHC string.
var ErrFormat = errors.New("stored password hash is not an argon2id PHC string")

// Parse reads a PHC string made by Hash (or by anything else that writes
// argon2id version 19), or returns ErrFormat.
func Parse(encoded string) (Stored, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Stored{}, ErrFormat
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Stored{}, ErrFormat
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Parallelism); err != nil ||
		p.MemoryKiB == 0 || p.Time == 0 || p.Parallelism == 0 {
		return Stored{}, ErrFormat
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) == 0 {
		return Stored{}, ErrFormat
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return Stored{}, ErrFormat
	}
	return Stored{params: p, salt: salt, key: key}, nil
}

// Matches reports whether password is the one s was made from, doing the
// full argon2id work with s's own parameters, in constant time.
func (s Stored) Matches(password string) bool {
	got := argon2.IDKey([]byte(password), s.salt, s.params.Time, s.params.MemoryKiB, s.params.Parallelism, uint32(len(s.key)))
	return subtle.ConstantTimeCompare(got, s.key) == 1
}

// Params are the cost parameters s was made with.
func (s Stored) Params() Params { return s.params }

// WeakerThan reports whether s was made with less of any cost than p, or a
// shorter key than Hash makes: such a hash should be replaced.
func (s Stored) WeakerThan(p Params) bool {
	return s.params.MemoryKiB < p.MemoryKiB || s.params.Time < p.Time ||
		s.params.Parallelism < p.Parallelism || len(s.key) < keyLen
}
