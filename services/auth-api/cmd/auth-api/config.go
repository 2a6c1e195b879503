package main

import (
	"fmt"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// config is auth-api's whole configuration. This file is the only place the
// environment is read; every variable is a row of the README's table.
type config struct {
	DatabaseURL        string
	HTTPAddr           string
	AdminAddr          string
	NATSURL            string
	StreamReplicas     int
	PublicURL          string
	VerifyRedirect     *url.URL
	TokenTTL           time.Duration
	PasswordMinLength  int
	Argon2             auth.Params
	HashConcurrency    int
	HashQueueTimeout   time.Duration
	LoginMaxFailures   int
	IPRateLimitRPS     float64
	IPRateLimitBurst   int
	TrustedProxies     []netip.Prefix
	CORSAllowedOrigins []string
	ShutdownTimeout    time.Duration
	OutboxRetention    time.Duration
	LogLevel           string
	LogFormat          string
}

// String never shows the database password.
func (c config) String() string {
	return fmt.Sprintf("database=%s http=%s admin=%s nats=%s public_url=%s", redactURL(c.DatabaseURL),
		c.HTTPAddr, c.AdminAddr, redactURL(c.NATSURL), c.PublicURL)
}

// env reads variables with defaults and remembers the first bad one, so that
// loadConfig reads straight down and fails with one line naming it.
type env struct {
	getenv func(string) string
	err    error
}

func (e *env) fail(name, val, why string) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %q %s", name, val, why)
	}
}

func (e *env) str(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

func (e *env) integer(name string, def, lo, hi int) int {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.fail(name, v, fmt.Sprintf("is not an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

func (e *env) float(name string, def, lo float64) float64 {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f != f {
		e.fail(name, v, fmt.Sprintf("is not a number of at least %g", lo))
		return def
	}
	return f
}

func (e *env) duration(name string, def, lo time.Duration) time.Duration {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		e.fail(name, v, fmt.Sprintf("is not a duration of at least %s (e.g. 30s, 24h)", lo))
		return def
	}
	return d
}

func (e *env) httpURL(name, def string) string {
	v := e.str(name, def)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.fail(name, redactURL(v), "is not an http(s) URL")
	}
	return v
}

// loadConfig reads and checks every variable.
func loadConfig(getenv func(string) string) (config, error) {
	e := &env{getenv: getenv}
	c := config{
		DatabaseURL:       e.databaseURL(),
		HTTPAddr:          e.str("HTTP_ADDR", ":8080"),
		AdminAddr:         e.str("ADMIN_ADDR", ":9090"),
		NATSURL:           e.str("NATS_URL", "nats://127.0.0.1:4222"),
		StreamReplicas:    e.integer("NATS_STREAM_REPLICAS", 1, 1, 5),
		PublicURL:         strings.TrimRight(e.httpURL("PUBLIC_URL", "http://localhost:8080"), "/"),
		TokenTTL:          e.duration("VERIFICATION_TOKEN_TTL", 24*time.Hour, time.Minute),
		PasswordMinLength: e.integer("PASSWORD_MIN_LENGTH", 8, 8, auth.MaxPasswordLength),
		Argon2: auth.Params{
			MemoryKiB:   uint32(e.integer("ARGON2_MEMORY_KIB", auth.MinMemoryKiB, auth.MinMemoryKiB, 4<<20)),
			Time:        uint32(e.integer("ARGON2_TIME", auth.MinTime, auth.MinTime, 100)),
			Parallelism: uint8(e.integer("ARGON2_PARALLELISM", auth.MinParallelism, auth.MinParallelism, 255)),
		},
		HashConcurrency:  e.integer("HASH_CONCURRENCY", runtime.GOMAXPROCS(0), 1, 1024),
		HashQueueTimeout: e.duration("HASH_QUEUE_TIMEOUT", 500*time.Millisecond, time.Millisecond),
		LoginMaxFailures: e.integer("LOGIN_MAX_FAILURES", 5, 1, 1000),
		IPRateLimitRPS:   e.float("IP_RATE_LIMIT_RPS", 10, 0),
		IPRateLimitBurst: e.integer("IP_RATE_LIMIT_BURST", 20, 1, 1_000_000),
		ShutdownTimeout:  e.duration("SHUTDOWN_TIMEOUT", 20*time.Second, 0),
		OutboxRetention:  e.duration("OUTBOX_RETENTION", 7*24*time.Hour, time.Minute),
		LogLevel:         e.str("LOG_LEVEL", "info"),
		LogFormat:        e.str("LOG_FORMAT", "json"),
	}
	if v := e.httpURL("VERIFY_REDIRECT_URL", ""); v != "" {
		c.VerifyRedirect, _ = url.Parse(v)
	}
	for _, s := range e.list("TRUSTED_PROXIES") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			// A bare address is a /32 (or /128).
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				e.fail("TRUSTED_PROXIES", s, "is not a CIDR (e.g. 10.0.0.0/8) or an IP address")
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	for _, o := range e.list("CORS_ALLOWED_ORIGINS") {
		u, err := url.Parse(o)
		if o == "*" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			e.fail("CORS_ALLOWED_ORIGINS", o, "is not an exact origin like https://app.example.com (no *, no path)")
			continue
		}
		c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, u.Scheme+"://"+u.Host)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		e.fail("LOG_LEVEL", c.LogLevel, "is not one of debug, info, warn, error")
	}
	switch strings.ToLower(c.LogFormat) {
	case "json", "text":
	default:
		e.fail("LOG_FORMAT", c.LogFormat, "is not one of json, text")
	}
	return c, e.err
}

func (e *env) databaseURL() string {
	v := e.str("DATABASE_URL", "")
	if v == "" {
		if e.err == nil {
			e.err = fmt.Errorf("DATABASE_URL: required (e.g. postgres://postgres@127.0.0.1:5432/kairos?sslmode=disable)")
		}
		return ""
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		e.fail("DATABASE_URL", redactURL(v), "is not a postgres:// URL")
	}
	return v
}

func (e *env) list(name string) []string {
	var out []string
	for _, s := range strings.Split(e.getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// redactURL hides the password of a URL, for error messages and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
