package main

import (
	"io/fs"
	"log/slog"
	"runtime/debug"

	"github.com/kairos-platform/identity/pkg/lifecycle"
)

// baseMemory is what auth-api needs besides the hashes' memory, with room
// to spare: about 10 MiB of Go heap idle, a few tens under load (buffers,
// connections, goroutines). Measured in docs/BENCHMARKS.md.
const baseMemory = 64 << 20

// hashMemory is the memory HASH_CONCURRENCY argon2id hashes hold at once.
// x/crypto/argon2 allocates it as ordinary Go heap for each hash, so it
// counts against Go's memory limit like everything else, and is live (the
// GC cannot free it) while the hashes run.
func hashMemory(cfg config) int64 {
	return int64(cfg.HashConcurrency) * int64(cfg.Argon2.MemoryKiB) << 10
}

// setMemoryLimit makes the Go memory limit follow the container (unless
// GOMEMLIMIT is set) and logs it once, with the hashes' share. A limit
// below what the hash slots need with baseMemory cannot be kept: the GC
// would run without end while the hashes' memory stays live, and the kernel
// kills the process past the container's limit. That is said at start
// rather than found out under load.
// root is the file system the cgroup files are read from: os.DirFS("/").
func setMemoryLimit(cfg config, root fs.FS, logger *slog.Logger) {
	lim, err := lifecycle.SetMemoryLimit(cfg.GoMemLimit, root)
	if err != nil {
		logger.Warn("container memory limit unreadable; Go memory limit left as it was", "error", err)
	}
	hashes := hashMemory(cfg)
	logger.Info("memory limit", "go_limit_mib", lim.Bytes>>20, "source", lim.Source,
		"container_mib", lim.Container>>20, "hash_memory_mib", hashes>>20)
	if need := hashes + baseMemory; lim.Bytes > 0 && lim.Bytes < need {
		logger.Warn("memory limit too small for HASH_CONCURRENCY × ARGON2_MEMORY_KIB; raise the memory limit or lower HASH_CONCURRENCY",
			"go_limit_mib", lim.Bytes>>20, "need_mib", need>>20,
			"container_need_mib", int64(float64(need)/lifecycle.MemoryLimitRatio)>>20)
	}
}

// freeStartupMemory returns what start-up used and dropped to the OS: the
// dummy hash's argon2id memory (ARGON2_MEMORY_KIB) and the common-password
// list's scratch. Without it the heap goal set while the dummy hash was live
// keeps the GC away, and an idle replica holds that memory until the
// two-minute forced GC and the scavenger get to it.
func freeStartupMemory() { debug.FreeOSMemory() }
