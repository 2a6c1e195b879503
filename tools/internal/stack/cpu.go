package stack

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux this runs on).
const clockTick = 10 * time.Millisecond

// processCPU is the user plus system CPU time pid has used.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid … utime is field 14, stime 15; comm may hold
	// spaces, so count from after ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * clockTick, nil
}

// CPUTime is the CPU time the running process has used (0 when stopped).
func (p *Proc) CPUTime() time.Duration {
	pid := p.PID()
	if pid == 0 {
		return 0
	}
	d, _ := processCPU(pid)
	return d
}

// CPUTime is the CPU time the own server's processes (the postmaster and
// every backend and worker it runs now) have used. Backends that exited are
// not counted: take it over a run whose connections stay open (a pool).
func (p *Postgres) CPUTime() (time.Duration, error) {
	if !p.Own() {
		return 0, fmt.Errorf("postgres: CPU time only of a server of its own")
	}
	pid, err := p.postmaster()
	if err != nil {
		return 0, err
	}
	total, err := processCPU(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range childrenOf(pid) {
		if d, err := processCPU(c); err == nil {
			total += d
		}
	}
	return total, nil
}
