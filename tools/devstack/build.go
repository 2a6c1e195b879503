package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/kairos-platform/identity/tools/internal/gobuild"
)

// progressEvery is how often a long build says it is still going.
const progressEvery = 5 * time.Second

// build compiles one service into root/bin as `make build` does. A cold
// build cache makes this minutes of silence, so it counts the packages
// compiled and says so every few seconds.
func build(ctx context.Context, root, svc string, stamp gobuild.Stamp, out *console) error {
	start := time.Now()
	var compiled atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				out.line("devstack", fmt.Sprintf("building %s: %d packages compiled, %s so far", svc, compiled.Load(), time.Since(start).Round(time.Second)))
			}
		}
	}()
	err := gobuild.Service(ctx, root, svc, filepath.Join(root, "bin", svc), stamp, func(string) { compiled.Add(1) })
	close(done)
	<-stopped
	if err != nil {
		return err
	}
	if n := compiled.Load(); n > 0 {
		out.line("devstack", fmt.Sprintf("built bin/%s (%d packages compiled in %s)", svc, n, time.Since(start).Round(time.Second)))
	}
	return nil
}
