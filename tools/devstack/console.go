package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
)

// console serialises everything devstack and its children print, one whole
// line (or block) at a time, each line prefixed with where it came from.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

// prefixWidth aligns the output of every source.
const prefixWidth = 9

func (c *console) line(source, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		fmt.Fprintf(c.w, "%-*s| %s\n", prefixWidth, source, l)
	}
}

// block prints text as is, never interleaved with other output.
func (c *console) block(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	io.WriteString(c.w, text) //nolint:errcheck // the console is best effort
}

// prefixed returns a writer for a child's output that prints whole lines
// with the child's name in front.
func (c *console) prefixed(source string) *lineWriter {
	return &lineWriter{c: c, source: source}
}

type lineWriter struct {
	c      *console
	source string
	mu     sync.Mutex
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.c.line(w.source, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	// A child that never ends its line must not grow the buffer forever.
	if len(w.buf) > 64<<10 {
		w.c.line(w.source, string(w.buf))
		w.buf = nil
	}
	return len(p), nil
}

// flush prints an unterminated last line.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.c.line(w.source, string(w.buf))
		w.buf = nil
	}
}
