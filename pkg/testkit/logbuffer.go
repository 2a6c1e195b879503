package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// LogBuffer collects the output of a logger (or a whole run's stdout) that
// several goroutines write at once, for the test to read while they run.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns the lines that are JSON objects (slog's JSON records, span
// lines), as maps; other lines are skipped.
func (l *LogBuffer) Lines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
