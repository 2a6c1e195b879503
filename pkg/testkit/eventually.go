package testkit

import (
	"testing"
	"time"
)

// WaitBound is how long Eventually waits. The conditions normally hold in
// milliseconds; the bound is generous so a busy machine does not fail a test.
const WaitBound = 60 * time.Second

// Eventually polls cond until it holds and fails the test if it still does
// not after WaitBound. Tests wait for conditions, never for durations.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
