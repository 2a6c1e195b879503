package tokens

import (
	"crypto/sha256"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultVerifiedCache is the number of verified access tokens a replica
// remembers (Config.VerifiedCache): more than the users active on one
// replica within an access token's lifetime in any deployment we size for,
// at a few hundred bytes each (a few MiB in all). A token pushed out is
// verified again on its next use: the cache bounds memory, never
// correctness.
const DefaultVerifiedCache = 16384

// verifiedCache remembers the claims of access tokens whose signature and
// claims have passed, keyed by the SHA-256 of the token string, until the
// token's exp. A hit skips the signature verification (the bulk of an
// ingress check) and nothing else: the caller still consults the deny-list
// on every request, so a logout is honoured exactly as without the cache.
//
// Only tokens that verified are added, so an attacker cannot fill it
// without a valid token per entry, and a token differing from a cached
// one by any byte hashes elsewhere and is verified in full. The key set
// is fixed for the life of the process (a bundle change is a restart), so
// a cached verdict cannot outlive its key.
type verifiedCache struct {
	lru *lru.Cache[[sha256.Size]byte, Claims]
}

// newVerifiedCache returns a cache of size entries, nil (none) for size <= 0.
func newVerifiedCache(size int) *verifiedCache {
	if size <= 0 {
		return nil
	}
	c, _ := lru.New[[sha256.Size]byte, Claims](size) // fails only for size <= 0
	return &verifiedCache{lru: c}
}
