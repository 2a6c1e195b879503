package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one service replica run as a child process. Its ports stay the same
// across restarts, so clients and the fault tools address it by one URL.
type Proc struct {
	Name      string
	Bin       string
	Args      []string
	Env       []string // KEY=VALUE on top of a minimal environment
	HTTPAddr  string   // public listener (empty for the notifier)
	AdminAddr string
	ReadyPath string // answers 200 when ready; "/readyz" when empty
	LogPath   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	peakRSS int64 // bytes, highest VmHWM seen over every run
	started time.Time
	log     *os.File
}

// URL is the public base URL.
func (p *Proc) URL() string { return "http://" + p.HTTPAddr }

// AdminURL is the admin base URL.
func (p *Proc) AdminURL() string { return "http://" + p.AdminAddr }

// Start starts the process (a no-op while it runs).
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	if p.log == nil {
		f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		p.log = f
	}
	fmt.Fprintf(p.log, "=== %s start %s\n", p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append(baseEnv(), p.Env...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	// Its own process group: a Ctrl-C on the tool is handled by the tool,
	// which then stops the children in order. Should the tool die without
	// that (a test timeout), the kernel kills the child with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.started = cmd, done, time.Now()
	go p.sampleRSS(cmd.Process.Pid, done)
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.cmd = nil
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// baseEnv passes through only what a process needs to run, so the caller's
// service variables (DATABASE_URL, NATS_URL…) never leak into a child.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "GOMAXPROCS", "GODEBUG", "GOGC", "GOMEMLIMIT"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// sampleRSS keeps the highest VmHWM (the kernel's own peak resident set) of
// the running process; it is lost when the process exits, so it is read often.
func (p *Proc) sampleRSS(pid int, done <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if v, err := readVmHWM(pid); err == nil {
			p.mu.Lock()
			if v > p.peakRSS {
				p.peakRSS = v
			}
			p.mu.Unlock()
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

func readVmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM")
}

// PID is the running process's id, 0 when stopped.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool { return p.PID() != 0 }

// PeakRSS is the highest resident set size seen, in bytes, over all runs.
func (p *Proc) PeakRSS() int64 {
	if pid := p.PID(); pid != 0 {
		if v, err := readVmHWM(pid); err == nil {
			p.mu.Lock()
			if v > p.peakRSS {
				p.peakRSS = v
			}
			p.mu.Unlock()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peakRSS
}

// ResetPeakRSS forgets the peak so far (the kernel's VmHWM is reset too), so a
// scenario measures its own peak.
func (p *Proc) ResetPeakRSS() {
	if pid := p.PID(); pid != 0 {
		// Writing 5 to clear_refs resets the kernel's peak RSS counter.
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
	p.mu.Lock()
	p.peakRSS = 0
	p.mu.Unlock()
}

// Signal sends sig to the process if it runs.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	return p.cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the process to exit and returns how long it
// took and its exit error (nil for exit 0).
func (p *Proc) Wait(timeout time.Duration) (time.Duration, error) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return 0, nil
	}
	start := time.Now()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return time.Since(start), p.exitErr
	case <-time.After(timeout):
		return time.Since(start), fmt.Errorf("%s: still running after %s", p.Name, timeout)
	}
}

// Stop sends SIGTERM and waits up to timeout, then kills. It returns the
// time to exit and the exit error of the graceful attempt.
func (p *Proc) Stop(timeout time.Duration) (time.Duration, error) {
	if !p.Running() {
		return 0, nil
	}
	_ = p.Signal(syscall.SIGTERM)
	d, err := p.Wait(timeout)
	if p.Running() {
		p.Kill()
	}
	return d, err
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	_, _ = p.Wait(30 * time.Second)
}

// Close stops the process and closes its log.
func (p *Proc) Close() {
	_, _ = p.Stop(30 * time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log != nil {
		p.log.Close()
		p.log = nil
	}
}

func (p *Proc) readyPath() string {
	if p.ReadyPath == "" {
		return "/readyz"
	}
	return p.ReadyPath
}

// WaitReady polls /readyz (ReadyPath) until it answers 200, the process exits or ctx ends.
func (p *Proc) WaitReady(ctx context.Context) error {
	c := &http.Client{Timeout: time.Second}
	for {
		if !p.Running() {
			return fmt.Errorf("%s exited before it was ready (log: %s):\n%s", p.Name, p.LogPath, tail(p.LogPath, 20))
		}
		resp, err := c.Get(p.AdminURL() + p.readyPath())
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (log: %s): %w\n%s", p.Name, p.LogPath, ctx.Err(), tail(p.LogPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Ready reports whether /readyz answers 200 now.
func (p *Proc) Ready() bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(p.AdminURL() + p.readyPath())
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
