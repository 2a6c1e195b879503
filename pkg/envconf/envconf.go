// Package envconf reads a service's configuration from environment variables
// with defaults and bounds, remembering the first bad value so that a config
// loader reads straight down and fails with one line naming the variable.
package envconf

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Env reads through getenv (os.Getenv in main, a map in tests).
type Env struct {
	getenv func(string) string
	err    error
}

// New returns a reader over getenv.
func New(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Err is the first failure, "NAME: what is wrong", or nil.
func (e *Env) Err() error { return e.err }

// Fail records a failure of name unless an earlier one was recorded.
func (e *Env) Fail(name, format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

// Str is the trimmed value of name, or def when it is unset or blank.
func (e *Env) Str(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

// Int is name as a whole number in [lo, hi], or def when unset.
func (e *Env) Int(name string, def, lo, hi int) int {
	v := e.Str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.Fail(name, "%q is not a whole number from %d to %d", v, lo, hi)
		return def
	}
	return n
}

// Float is name as a number of at least lo, or def when unset.
func (e *Env) Float(name string, def, lo float64) float64 {
	v := e.Str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f != f {
		e.Fail(name, "%q is not a number of at least %g", v, lo)
		return def
	}
	return f
}

// Duration is name as a Go duration of at least lo, or def when unset.
func (e *Env) Duration(name string, def, lo time.Duration) time.Duration {
	v := e.Str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		e.Fail(name, "%q is not a duration of at least %s (e.g. %s)", v, short(lo), examples(lo, def))
		return def
	}
	return d
}

// short writes d without zero units: 1m rather than 1m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// examples are two valid values: the default and a larger one.
func examples(lo, def time.Duration) string {
	if def < lo || def == 0 {
		def = max(lo, time.Second)
	}
	return short(def) + ", " + short(def*2)
}

// OneOf is name lower-cased, which must be one of allowed, or def when unset.
func (e *Env) OneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(e.Str(name, def))
	if !slices.Contains(allowed, v) {
		e.Fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
		return def
	}
	return v
}

// HostPort is name as host:port (the host may be empty: every interface),
// or def when unset. It only checks the form; binding happens later.
func (e *Env) HostPort(name, def string) string {
	v := e.Str(name, def)
	_, port, err := net.SplitHostPort(v)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		e.Fail(name, "%q is not host:port (e.g. :8080 or 127.0.0.1:8080)", v)
	}
	return v
}

// List is name split at commas, each item trimmed, empty items dropped.
func (e *Env) List(name string) []string {
	var out []string
	for _, s := range strings.Split(e.getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
