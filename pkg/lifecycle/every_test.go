package lifecycle_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/lifecycle"
	"github.com/kairos-platform/identity/pkg/testkit"
)

// A failing tick is logged and the job keeps running; the stop ends it
// with no error.
func TestEveryKeepsGoingAfterAFailure(t *testing.T) {
	var logs testkit.LogBuffer
	var calls atomic.Int64
	run := lifecycle.Every(time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)), "pruning", func(context.Context, time.Time) error {
		if calls.Add(1) == 1 {
			return errors.New("db away")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	testkit.Eventually(t, "a tick after the failure", func() bool { return calls.Load() >= 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil at the stop", err)
	}
	if !strings.Contains(logs.String(), "pruning failed") || !strings.Contains(logs.String(), "db away") {
		t.Fatalf("log: %s", logs.String())
	}
}
