package hashing_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// BenchmarkHash measures one argon2id hash at the default (OWASP minimum)
// parameters: the cost of a signup and of a login.
func BenchmarkHash(b *testing.B) {
	h := newHasher(b, passhash.Params{MemoryKiB: passhash.MinMemoryKiB, Time: passhash.MinTime, Parallelism: passhash.MinParallelism},
		runtime.NumCPU(), time.Minute, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashParallel shows throughput with the slot semaphore at
// HASH_CONCURRENCY = number of CPUs.
func BenchmarkHashParallel(b *testing.B) {
	h := newHasher(b, passhash.Params{MemoryKiB: passhash.MinMemoryKiB, Time: passhash.MinTime, Parallelism: passhash.MinParallelism},
		runtime.NumCPU(), time.Minute, nil)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
