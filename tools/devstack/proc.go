package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// child is one service run as a child process, its output prefixed with its
// name on the console.
type child struct {
	name, bin string
	env       []string // the whole environment of the child
	adminAddr string
	out       *console

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	mu   sync.Mutex
	err  error
}

func (c *child) start() error {
	w := c.out.prefixed(c.name)
	cmd := exec.Command(c.bin)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group: a Ctrl-C in the terminal reaches devstack only,
	// which then stops the children in order with SIGTERM.
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	c.cmd, c.done = cmd, make(chan struct{})
	go func() {
		err := cmd.Wait()
		w.flush()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	}()
	return nil
}

func (c *child) exitErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return fmt.Errorf("%s exited with status 0", c.name)
	}
	return c.err
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// waitReady polls /readyz until it answers 200, the child exits, or timeout.
func (c *child) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := localURL(c.adminAddr) + "/readyz"
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			return c.exitErr()
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer 200 within %s", c.name, url, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readiness asks the child's /readyz once; when it is not ready, reason is
// what the service says is missing (its "reason" field).
func (c *child) readiness(ctx context.Context) (ready bool, reason string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := localURL(c.adminAddr) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, url + " does not answer"
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return true, ""
	}
	return false, readyzReason(resp.StatusCode, resp.Body)
}

// readyzReason turns a /readyz answer ({"status": …, "reason": …}) into one line.
func readyzReason(code int, body io.Reader) string {
	var v struct{ Status, Reason string }
	if err := json.NewDecoder(io.LimitReader(body, 64<<10)).Decode(&v); err != nil || (v.Status == "" && v.Reason == "") {
		return fmt.Sprintf("/readyz answers %d", code)
	}
	if v.Reason == "" {
		return v.Status
	}
	return v.Reason
}

// waitReadyFor polls readiness until it is ready, the child exits, or
// timeout; it returns the last reason.
func (c *child) waitReadyFor(ctx context.Context, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ready, reason := c.readiness(ctx)
		if ready {
			return true, ""
		}
		select {
		case <-c.done:
			return false, fmt.Sprintf("exited (%v)", c.exitErr())
		case <-ctx.Done():
			return false, reason
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopAll sends SIGTERM to every running child, waits up to timeout for
// them to exit, then kills what is left.
func stopAll(children []*child, timeout time.Duration, out *console) {
	for _, c := range children {
		if c.cmd != nil && !c.exited() {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(timeout)
	for _, c := range children {
		if c.cmd == nil {
			continue
		}
		select {
		case <-c.done:
		case <-deadline:
			out.line("devstack", fmt.Sprintf("%s did not stop within %s; killing it", c.name, timeout))
			_ = c.cmd.Process.Signal(os.Kill)
			<-c.done
		}
	}
}
