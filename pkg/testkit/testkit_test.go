package testkit_test

import (
	"log/slog"
	"sync"
	"testing"
	"time"

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

func TestClockMovesOnlyWhenTold(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	c := testkit.NewClock(t0)
	c.Add(time.Minute)
	if got := c.Now(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Now = %v, want %v", got, t0.Add(time.Minute))
	}
}
