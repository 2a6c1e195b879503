package passhash_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// BenchmarkHashMemory compares a hash in fresh memory (allocated, zeroed and
// faulted in by the runtime each time, as golang.org/x/crypto/argon2 does)
// with one in memory kept per goroutine, on every core at the OWASP
// minimum: `go test -run '^$' -bench HashMemory -count 4 ./passhash/`. It
// reports the process's CPU per hash (user and system, the page faults
// included) next to the wall time, which on a shared machine means little.
func BenchmarkHashMemory(b *testing.B) {
	p := passhash.Params{MemoryKiB: passhash.MinMemoryKiB, Time: passhash.MinTime, Parallelism: passhash.MinParallelism}
	for _, kept := range []bool{false, true} {
		name := map[bool]string{false: "fresh", true: "kept"}[kept]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				var mem *passhash.Memory
				if kept {
					mem = new(passhash.Memory)
				}
				for pb.Next() {
					passhash.HashIn(mem, "correct horse battery staple", p)
				}
			})
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time, user and system, this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
