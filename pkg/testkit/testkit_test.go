package testkit_test

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/kairos-platform/identity/pkg/testkit"
)

func TestLogBufferTakesConcurrentRecords(t *testing.T) {
	t.Parallel()
	var buf testkit.LogBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { log.Info("hello", "i", i) })
	}
	wg.Wait()
	buf.Write([]byte("not json\n"))
	lines := buf.Lines()
	if len(lines) != 8 {
		t.Fatalf("%d JSON lines, want 8:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		if l["msg"] != "hello" {
			t.Fatalf("line %v", l)
		}
	}
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	n := 0
	testkit.Eventually(t, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
}
