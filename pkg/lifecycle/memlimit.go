package lifecycle

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"math"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// MemoryLimit is the Go memory limit a service runs under and where it
// came from, for the start-up log line.
type MemoryLimit struct {
	// Bytes is Go's soft memory limit; 0 when there is none.
	Bytes int64
	// Source is "GOMEMLIMIT" (the operator's, kept as set), "cgroup"
	// (a fraction of the container's limit) or "none".
	Source string
	// Container is the cgroup's memory limit; 0 when none was found.
	Container int64
}

// MemoryLimitRatio is the share of the container's memory Go may use: the
// rest is for what Go does not count (the binary's pages, the kernel's
// buffers of the cgroup), so that the GC works harder before the kernel
// kills the process.
const MemoryLimitRatio = 0.9

// SetMemoryLimit sets Go's soft memory limit (as GOMEMLIMIT would) to
// MemoryLimitRatio of the container's memory limit, read from the cgroup
// files under fsys (the root file system, os.DirFS("/"); tests pass a fake).
// gomemlimit is the GOMEMLIMIT variable: when set, the runtime has applied
// it already and it wins, "off" included. Without a container limit nothing
// changes. Without it Go would let the heap double past its live size
// regardless of the container, and the kernel, not the GC, would decide.
func SetMemoryLimit(gomemlimit string, fsys fs.FS) (MemoryLimit, error) {
	container, err := ContainerMemory(fsys)
	lim := MemoryLimit{Source: "none", Container: container}
	switch {
	case gomemlimit != "":
		lim.Source = "GOMEMLIMIT"
		if cur := debug.SetMemoryLimit(-1); cur != math.MaxInt64 {
			lim.Bytes = cur
		}
	case container > 0:
		lim.Source = "cgroup"
		lim.Bytes = int64(float64(container) * MemoryLimitRatio)
		debug.SetMemoryLimit(lim.Bytes)
	}
	return lim, err
}

// noLimit: cgroup v1 writes "no limit" as the largest page-aligned int64;
// anything this large is no limit in practice.
const noLimit = 1 << 60

// ContainerMemory returns the memory limit of the cgroup the process is in
// (the smallest of it and its ancestors, v2 or v1), 0 when there is none.
// Inside a container the cgroup namespace makes the own cgroup the root;
// where the host's path is not visible, the root files are read.
func ContainerMemory(fsys fs.FS) (int64, error) {
	data, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // not Linux, or no /proc: no limit to follow
	}
	if err != nil {
		return 0, err
	}
	var limit int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// "hierarchy-ID:controllers:path"; v2 is "0::path".
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, file = "sys/fs/cgroup", "memory.max"
		case hasController(parts[1], "memory"):
			dir, file = "sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		l, err := smallestLimit(fsys, dir, parts[2], file)
		if err != nil {
			return 0, err
		}
		if l > 0 && (limit == 0 || l < limit) {
			limit = l
		}
	}
	return limit, sc.Err()
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// smallestLimit reads file in the cgroup at cgPath under dir and in each of
// its ancestors up to dir itself, and returns the smallest limit (0: none).
func smallestLimit(fsys fs.FS, dir, cgPath, file string) (int64, error) {
	var limit int64
	for p := path.Clean("/" + cgPath); ; p = path.Dir(p) {
		l, err := readLimit(fsys, path.Join(dir, p, file))
		if err != nil {
			return 0, err
		}
		if l > 0 && (limit == 0 || l < limit) {
			limit = l
		}
		if p == "/" {
			return limit, nil
		}
	}
}

// readLimit reads one limit file: a byte count, or "max" (v2) or a huge
// number (v1) for none. A missing file is no limit.
func readLimit(fsys fs.FS, name string) (int64, error) {
	b, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("cgroup " + name + ": not a memory limit: " + strconv.Quote(s))
	}
	if n <= 0 || n >= noLimit {
		return 0, nil
	}
	return n, nil
}
