package main

import (
	"os"
	"testing"
)

// The CPU reading the backlog reports per event: a process's own time is
// positive and grows, a process that is not there reads as 0.
func TestCPUSeconds(t *testing.T) {
	before := cpuSeconds(os.Getpid())
	for x, i := 0, 0; cpuSeconds(os.Getpid()) <= before; i++ {
		x += i * i // burn a clock tick
	}
	tests := []struct {
		name string
		got  float64
		pos  bool
	}{
		{"this process, from /proc", cpuSeconds(os.Getpid()), true},
		{"this process, from getrusage", ownCPUSeconds(), true},
		{"no such process", cpuSeconds(-1), false},
	}
	for _, tt := range tests {
		if (tt.got > 0) != tt.pos {
			t.Errorf("%s: %v seconds", tt.name, tt.got)
		}
	}
}
