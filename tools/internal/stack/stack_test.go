package stack_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kairos-platform/identity/tools/internal/stack"
)

func TestProcLifecycle(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	p := &stack.Proc{Name: "sleeper", Bin: sleep, Args: []string{"60"}, LogPath: filepath.Join(t.TempDir(), "log")}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if p.PID() == 0 || !p.Running() {
		t.Fatal("not running after Start")
	}
	if p.PeakRSS() <= 0 {
		t.Error("no peak RSS read from /proc")
	}
	if _, err := p.Stop(10 * time.Second); err == nil {
		t.Error("sleep ended by SIGTERM reported a clean exit")
	}
	if p.Running() {
		t.Fatal("still running after Stop")
	}
	// Start again: the same Proc is restartable (the fault runs rely on it).
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if p.Running() {
		t.Fatal("still running after Kill")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err == nil {
		t.Fatal("a stopped process is ready")
	}
}
