package main

import (
	"log/slog"
	"runtime/debug"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/kairos-platform/identity/pkg/telemetry"
	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// The limit taken from the container is logged with the hashes' share, and
// a container too small for HASH_CONCURRENCY hashes is said to be so at
// start, with what it would need.
func TestMemoryLimitAccountsForHashes(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	tests := []struct {
		name      string
		container int64
		slots     int
		gomem     string
		wantLimit float64
		wantWarn  bool
	}{
		{"128 MiB holds 2 slots", 128 << 20, 2, "", 115, false},
		{"128 MiB does not hold 4 slots", 128 << 20, 4, "", 115, true},
		{"160 MiB holds 4 slots", 160 << 20, 4, "", 144, false},
		{"GOMEMLIMIT wins, and is checked too", 1 << 30, 4, "100MiB", 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gomem != "" {
				debug.SetMemoryLimit(100 << 20) // as the runtime would have at start
			}
			cgroup := fstest.MapFS{
				"proc/self/cgroup":         {Data: []byte("0::/\n")},
				"sys/fs/cgroup/memory.max": {Data: []byte(strconv.FormatInt(tt.container, 10))},
			}
			cfg := config{HashConcurrency: tt.slots, GoMemLimit: tt.gomem,
				Argon2: passhash.Params{MemoryKiB: passhash.MinMemoryKiB, Time: 2, Parallelism: 1}}
			logs := &testkit.LogBuffer{}
			setMemoryLimit(cfg, cgroup, telemetry.NewLogger(logs, slog.LevelInfo, telemetry.LogJSON))

			var info, warn map[string]any
			for _, l := range logs.Lines() {
				switch l["msg"] {
				case "memory limit":
					info = l
				default:
					if l["level"] == "WARN" {
						warn = l
					}
				}
			}
			if info == nil || info["go_limit_mib"] != tt.wantLimit || info["hash_memory_mib"] != float64(tt.slots*19) {
				t.Fatalf("start-up line %v, want go_limit_mib %v and hash_memory_mib %d", info, tt.wantLimit, tt.slots*19)
			}
			if (warn != nil) != tt.wantWarn {
				t.Fatalf("warning %v, want one: %v", warn, tt.wantWarn)
			}
		})
	}
}
