package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// backlogProfileTime is how much of a drain is profiled: its first seconds,
// when every consumer is busy (a short drain is profiled whole).
const backlogProfileTime = 10 * time.Second

// profileBacklog saves CPU profiles of a drain into the output directory:
// notifier-<i>-backlog.pprof for each replica and loadtest-backlog.pprof for
// this process, which hosts the JetStream server, the SMTP sink and the fake
// Agent and so shares the cores with the notifier. Read them with
// go tool pprof -top bin/notifier FILE (or the loadtest binary).
func (r *runner) profileBacklog(ctx context.Context) (wait func()) {
	if !r.cfg.Profile {
		return func() {}
	}
	done := make(chan struct{}, len(r.st.Notifier)+1)
	for i, p := range r.st.Notifier {
		go func() {
			defer func() { done <- struct{}{} }()
			url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.AdminURL(), int(backlogProfileTime.Seconds()))
			// The admin port answers once the replica has started listening.
			for range 50 {
				if p.Ready() || ctx.Err() != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := download(ctx, url, filepath.Join(r.cfg.Out, fmt.Sprintf("notifier-%d-backlog.pprof", i))); err != nil {
				fmt.Fprintf(os.Stderr, "loadtest: notifier profile: %v\n", err)
			}
		}()
	}
	go func() {
		defer func() { done <- struct{}{} }()
		if err := os.MkdirAll(r.cfg.Out, 0o755); err != nil {
			return
		}
		f, err := os.Create(filepath.Join(r.cfg.Out, "loadtest-backlog.pprof"))
		if err != nil {
			return
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "loadtest: own profile: %v\n", err)
			return
		}
		select {
		case <-time.After(backlogProfileTime):
		case <-ctx.Done():
		}
		pprof.StopCPUProfile()
	}()
	return func() {
		for range len(r.st.Notifier) + 1 {
			<-done
		}
	}
}

// cpuSeconds is the user and system CPU time a process has used so far,
// from /proc/<pid>/stat; 0 when unreadable.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at state.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux the tool runs on.
const clockTicks = 100

// ownCPUSeconds is this process's user and system CPU time so far.
func ownCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
