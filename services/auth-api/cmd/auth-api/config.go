package main

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/kairos-platform/identity/pkg/envconf"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// config is auth-api's whole configuration. This file is the only place the
// environment is read; every variable is a row of the README's table.
type config struct {
	DatabaseURL        string
	HTTPAddr           string
	AdminAddr          string
	NATSURL            string
	NATSAuth           envconf.NATSAuth
	StreamReplicas     int
	PublicURL          string
	VerifyRedirect     *url.URL
	TokenTTL           time.Duration
	ResetRedirect      *url.URL // PASSWORD_RESET_URL: the frontend's reset page
	ResetTTL           time.Duration
	EmailChangeTTL     time.Duration
	MailBudget         int
	PasswordMinLength  int
	Argon2             passhash.Params
	HashConcurrency    int
	HashQueueTimeout   time.Duration
	RefusalHold        time.Duration
	LoginMaxFailures   int
	IPRateLimitRPS     float64
	IPRateLimitBurst   int
	TrustedProxies     []netip.Prefix
	CORSAllowedOrigins []string
	ShutdownTimeout    time.Duration
	OutboxRetention    time.Duration
	EventRetention     time.Duration
	Sessions           sessionConfig
	Obs                envconf.Observability

	// Login sources (internal/auth, lockout.go): the account-wide ceiling,
	// the prefixes grouping client addresses, and the device cookie (no
	// keys: no device cookies, every login counts by its network).
	LoginAccountMaxFailures int
	LoginSourcePrefixV4     int
	LoginSourcePrefixV6     int
	DeviceCookieKeys        [][]byte
	DeviceCookieTTL         time.Duration
	// GoMemLimit is GOMEMLIMIT, which the Go runtime reads itself; when set
	// it wins over the limit taken from the container.
	GoMemLimit string
	// Admin API (ADMIN_API_TOKEN_FILE; no tokens: off) and the audit trail.
	AdminTokens    []httpapi.AdminToken
	AuditRetention time.Duration
}

// String never shows the database password.
func (c config) String() string {
	return fmt.Sprintf("database=%s http=%s admin=%s nats=%s nats_auth=%s public_url=%s", redactURL(c.DatabaseURL),
		c.HTTPAddr, c.AdminAddr, natsx.Redact(c.NATSURL), c.NATSAuth, c.PublicURL)
}

func httpURL(e *envconf.Env, name, def string) string {
	v := e.Str(name, def)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.Fail(name, "%q is not an http(s) URL", redactURL(v))
	}
	return v
}

// loadConfig reads and checks every variable.
func loadConfig(getenv func(string) string) (config, error) {
	e := envconf.New(getenv)
	c := config{
		DatabaseURL:       databaseURL(e),
		HTTPAddr:          e.HostPort("HTTP_ADDR", ":8080"),
		AdminAddr:         e.HostPort("ADMIN_ADDR", ":9090"),
		NATSURL:           natsURL(e),
		NATSAuth:          e.NATSAuth(),
		StreamReplicas:    e.Int("NATS_STREAM_REPLICAS", 1, 1, 5),
		PublicURL:         strings.TrimRight(httpURL(e, "PUBLIC_URL", "http://localhost:8080"), "/"),
		TokenTTL:          e.Duration("VERIFICATION_TOKEN_TTL", 24*time.Hour, time.Minute),
		ResetTTL:          e.Duration("PASSWORD_RESET_TTL", 30*time.Minute, time.Minute),
		EmailChangeTTL:    e.Duration("EMAIL_CHANGE_TTL", 24*time.Hour, time.Minute),
		MailBudget:        e.Int("MAIL_BUDGET_PER_ADDRESS", 5, 1, 1000),
		PasswordMinLength: e.Int("PASSWORD_MIN_LENGTH", 8, 8, auth.MaxPasswordLength),
		Argon2: passhash.Params{
			MemoryKiB:   uint32(e.Int("ARGON2_MEMORY_KIB", passhash.MinMemoryKiB, passhash.MinMemoryKiB, 4<<20)),
			Time:        uint32(e.Int("ARGON2_TIME", passhash.MinTime, passhash.MinTime, 100)),
			Parallelism: uint8(e.Int("ARGON2_PARALLELISM", passhash.MinParallelism, passhash.MinParallelism, 255)),
		},
		HashConcurrency:  e.Int("HASH_CONCURRENCY", runtime.GOMAXPROCS(0), 1, 1024),
		HashQueueTimeout: e.Duration("HASH_QUEUE_TIMEOUT", 600*time.Millisecond, time.Millisecond),
		RefusalHold:      e.Duration("REFUSAL_HOLD", 2*time.Second, 0),
		LoginMaxFailures: e.Int("LOGIN_MAX_FAILURES", 5, 1, 1000),
		IPRateLimitRPS:   e.Float("IP_RATE_LIMIT_RPS", 10, 0),
		IPRateLimitBurst: e.Int("IP_RATE_LIMIT_BURST", 20, 1, 1_000_000),
		ShutdownTimeout:  e.Duration("SHUTDOWN_TIMEOUT", 20*time.Second, 0),
		OutboxRetention:  e.Duration("OUTBOX_RETENTION", 7*24*time.Hour, time.Minute),
		EventRetention:   e.Duration("EVENT_RETENTION", events.MaxAge, time.Minute),
		Sessions:         sessionSettings(e),
		Obs:              e.Observability("auth-api"),
		GoMemLimit:       e.Str("GOMEMLIMIT", ""),
	}
	c.LoginAccountMaxFailures = e.Int("LOGIN_ACCOUNT_MAX_FAILURES", 100, 1, 100)
	c.LoginSourcePrefixV4 = e.Int("LOGIN_SOURCE_PREFIX_V4", 32, 8, 32)
	c.LoginSourcePrefixV6 = e.Int("LOGIN_SOURCE_PREFIX_V6", 64, 32, 128)
	c.DeviceCookieKeys = deviceCookieKeys(e)
	c.DeviceCookieTTL = e.Duration("DEVICE_COOKIE_TTL", 8760*time.Hour, time.Hour)
	c.AdminTokens, c.AuditRetention = adminTokens(e), auditRetention(e)
	if v := httpURL(e, "VERIFY_REDIRECT_URL", ""); v != "" {
		c.VerifyRedirect, _ = url.Parse(v)
	}
	if v := httpURL(e, "PASSWORD_RESET_URL", ""); v != "" {
		if c.ResetRedirect, _ = url.Parse(v); c.ResetRedirect.Fragment != "" {
			e.Fail("PASSWORD_RESET_URL", "must not have a fragment: the token is put there")
		}
	}
	for _, s := range e.List("TRUSTED_PROXIES") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			// A bare address is a /32 (or /128).
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				e.Fail("TRUSTED_PROXIES", "%q is not a CIDR (e.g. 10.0.0.0/8) or an IP address", s)
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	for _, o := range e.List("CORS_ALLOWED_ORIGINS") {
		u, err := url.Parse(o)
		if o == "*" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			e.Fail("CORS_ALLOWED_ORIGINS", "%q is not an exact origin like https://app.example.com (no *, no path)", o)
			continue
		}
		c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, u.Scheme+"://"+u.Host)
	}
	return c, e.Err()
}

// deviceCookieKeys reads DEVICE_COOKIE_KEY_FILE: HMAC keys, one per line
// (the first signs, all verify). Unset means no device cookies; serve warns.
func deviceCookieKeys(e *envconf.Env) [][]byte {
	path := e.Str("DEVICE_COOKIE_KEY_FILE", "")
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		e.Fail("DEVICE_COOKIE_KEY_FILE", "%v", err)
		return nil
	}
	keys, err := httpapi.ParseDeviceKeys(data)
	if err != nil {
		e.Fail("DEVICE_COOKIE_KEY_FILE", "%s: %v", path, err)
	}
	return keys
}

// natsURL is NATS_URL, one nats:// URL or a comma-separated list.
func natsURL(e *envconf.Env) string {
	v := e.Str("NATS_URL", "nats://127.0.0.1:4222")
	if err := natsx.ValidateURL(v); err != nil {
		e.Fail("NATS_URL", "%v", err)
	}
	return v
}

func databaseURL(e *envconf.Env) string {
	v := e.Str("DATABASE_URL", "")
	if v == "" {
		e.Fail("DATABASE_URL", "required (e.g. postgres://postgres@127.0.0.1:5432/kairos?sslmode=disable)")
		return ""
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		e.Fail("DATABASE_URL", "%q is not a postgres:// URL", redactURL(v))
	}
	return v
}

// redactURL hides the password of a URL, for error messages and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// sessionConfig is the settings of sessions and access tokens.
type sessionConfig struct {
	Keys       *tokens.KeySet // JWT_SIGNING_KEYS_FILE: the first key signs
	Audience   string
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	MaxAge     time.Duration
	ReuseGrace time.Duration
}

func sessionSettings(e *envconf.Env) sessionConfig {
	c := sessionConfig{
		Keys:       signingKeys(e),
		Audience:   e.Str("JWT_AUDIENCE", "kairos"),
		AccessTTL:  e.Duration("ACCESS_TOKEN_TTL", 10*time.Minute, time.Minute),
		RefreshTTL: e.Duration("REFRESH_TOKEN_TTL", 720*time.Hour, time.Minute),
		MaxAge:     e.Duration("SESSION_MAX_AGE", 2160*time.Hour, time.Minute),
		ReuseGrace: e.Duration("REFRESH_REUSE_GRACE", 10*time.Second, 0),
	}
	if c.AccessTTL > 24*time.Hour {
		// The SESSIONS stream keeps a day: a replica could not replay the
		// revocations a longer-lived token needs.
		e.Fail("ACCESS_TOKEN_TTL", "%s is longer than 24h, the revocation feed's retention", c.AccessTTL)
	}
	return c
}

// signingKeys reads the PEM bundle named by JWT_SIGNING_KEYS_FILE. The
// errors never quote key material.
func signingKeys(e *envconf.Env) *tokens.KeySet {
	path := e.Str("JWT_SIGNING_KEYS_FILE", "")
	if path == "" {
		e.Fail("JWT_SIGNING_KEYS_FILE", "required: a PEM file of signing keys (make one with `auth-api keys generate`)")
		return nil
	}
	bundle, err := os.ReadFile(path)
	if err != nil {
		e.Fail("JWT_SIGNING_KEYS_FILE", "%v", err)
		return nil
	}
	ks, err := tokens.ParseKeys(bundle)
	if err != nil {
		e.Fail("JWT_SIGNING_KEYS_FILE", "%s: %v", path, err)
		return nil
	}
	return ks
}

// adminTokens reads ADMIN_API_TOKEN_FILE: "name:token" lines. Unset means
// the admin API is off (serve says so at start).
func adminTokens(e *envconf.Env) []httpapi.AdminToken {
	path := e.Str("ADMIN_API_TOKEN_FILE", "")
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		e.Fail("ADMIN_API_TOKEN_FILE", "%v", err)
		return nil
	}
	tokens, err := httpapi.ParseAdminTokens(data)
	if err != nil {
		e.Fail("ADMIN_API_TOKEN_FILE", "%s: %v", path, err)
	}
	return tokens
}

func auditRetention(e *envconf.Env) time.Duration {
	return e.Duration("AUDIT_RETENTION", 8760*time.Hour, 24*time.Hour)
}

// loadAdminConfig reads what `auth-api admin` needs: the database and the
// settings of the verification links it may send (as serve reads them).
func loadAdminConfig(getenv func(string) string) (config, error) {
	e := envconf.New(getenv)
	c := config{
		DatabaseURL:      databaseURL(e),
		PublicURL:        strings.TrimRight(httpURL(e, "PUBLIC_URL", "http://localhost:8080"), "/"),
		TokenTTL:         e.Duration("VERIFICATION_TOKEN_TTL", 24*time.Hour, time.Minute),
		MailBudget:       e.Int("MAIL_BUDGET_PER_ADDRESS", 5, 1, 1000),
		LoginMaxFailures: e.Int("LOGIN_MAX_FAILURES", 5, 1, 1000),
		Obs:              e.Observability("auth-api"),
	}
	return c, e.Err()
}
