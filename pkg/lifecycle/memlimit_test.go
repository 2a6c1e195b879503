package lifecycle_test

import (
	"math"
	"runtime/debug"
	"testing"
	"testing/fstest"

	"github.com/kairos-platform/identity/pkg/lifecycle"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestContainerMemory(t *testing.T) {
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    int64
		wantErr bool
	}{
		{"cgroup v2 in a container (namespace root)", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("268435456\n"),
		}, 256 << 20, false},
		{"cgroup v2 without a limit", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, 0, false},
		{"cgroup v2 nested: the smallest of the path", fstest.MapFS{
			"proc/self/cgroup":                          file("0::/kubepods/pod1/c1\n"),
			"sys/fs/cgroup/kubepods/memory.max":         file("1073741824"),
			"sys/fs/cgroup/kubepods/pod1/memory.max":    file("134217728"),
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": file("max"),
		}, 128 << 20, false},
		{"cgroup v2, host path not visible: the root", fstest.MapFS{
			"proc/self/cgroup":         file("0::/system.slice/x.service\n"),
			"sys/fs/cgroup/memory.max": file("104857600"),
		}, 100 << 20, false},
		{"cgroup v1 with a limit", fstest.MapFS{
			"proc/self/cgroup":                           file("12:cpu,cpuacct:/\n4:memory:/\n1:name=systemd:/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("201326592\n"),
		}, 192 << 20, false},
		{"cgroup v1 unlimited", fstest.MapFS{
			"proc/self/cgroup":                           file("4:memory:/process_api/abc\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("9223372036854771712\n"),
		}, 0, false},
		{"hybrid: v1 memory and a v2 root, the smaller", fstest.MapFS{
			"proc/self/cgroup":                           file("4:memory:/\n0::/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("201326592\n"),
			"sys/fs/cgroup/memory.max":                   file("max\n"),
		}, 192 << 20, false},
		{"no /proc", fstest.MapFS{}, 0, false},
		{"garbage in the limit file", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("lots\n"),
		}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lifecycle.ContainerMemory(tt.fs)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("ContainerMemory = %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// The limit follows the container unless GOMEMLIMIT says otherwise.
func TestSetMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	limited := fstest.MapFS{
		"proc/self/cgroup":         file("0::/\n"),
		"sys/fs/cgroup/memory.max": file("268435456\n"),
	}

	lim, err := lifecycle.SetMemoryLimit("", limited)
	container := float64(256 << 20)
	want := int64(container * lifecycle.MemoryLimitRatio)
	if err != nil || lim.Source != "cgroup" || lim.Bytes != want || lim.Container != 256<<20 {
		t.Fatalf("SetMemoryLimit = %+v, %v; want cgroup %d of %d", lim, err, want, 256<<20)
	}
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Fatalf("runtime limit %d, want %d", got, want)
	}

	// GOMEMLIMIT was applied by the runtime at start (here: by hand) and is kept.
	debug.SetMemoryLimit(100 << 20)
	lim, err = lifecycle.SetMemoryLimit("100MiB", limited)
	if err != nil || lim.Source != "GOMEMLIMIT" || lim.Bytes != 100<<20 || debug.SetMemoryLimit(-1) != 100<<20 {
		t.Fatalf("with GOMEMLIMIT: %+v, %v, runtime %d; want GOMEMLIMIT's 100 MiB kept", lim, err, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(math.MaxInt64)
	lim, _ = lifecycle.SetMemoryLimit("off", limited)
	if lim.Source != "GOMEMLIMIT" || lim.Bytes != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("with GOMEMLIMIT=off: %+v; want no limit", lim)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	lim, _ = lifecycle.SetMemoryLimit("", fstest.MapFS{"proc/self/cgroup": file("0::/\n")})
	if lim.Source != "none" || lim.Bytes != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("without a container limit: %+v; want none", lim)
	}
}
