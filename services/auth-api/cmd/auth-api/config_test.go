package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func getenvFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(getenvFrom(map[string]string{"DATABASE_URL": "postgres://u:secret@db/kairos", "JWT_SIGNING_KEYS_FILE": keyFile(t)}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.AdminAddr != ":9090" || c.NATSURL != "nats://127.0.0.1:4222" ||
		c.PublicURL != "http://localhost:8080" || c.TokenTTL != 24*time.Hour || c.PasswordMinLength != 8 ||
		c.Argon2.MemoryKiB != 19456 || c.Argon2.Time != 2 || c.Argon2.Parallelism != 1 ||
		c.HashConcurrency != runtime.GOMAXPROCS(0) || c.HashQueueTimeout != 600*time.Millisecond || c.LoginMaxFailures != 5 ||
		c.IPRateLimitRPS != 10 || c.IPRateLimitBurst != 20 || c.ShutdownTimeout != 20*time.Second ||
		c.OutboxRetention != 168*time.Hour || c.StreamReplicas != 1 || c.VerifyRedirect != nil ||
		c.LoginAccountMaxFailures != 100 || c.LoginSourcePrefixV4 != 32 || c.LoginSourcePrefixV6 != 64 ||
		c.DeviceCookieKeys != nil || c.DeviceCookieTTL != 8760*time.Hour ||
		len(c.TrustedProxies) != 0 || len(c.CORSAllowedOrigins) != 0 || c.Obs.LogLevel != slog.LevelInfo || c.Obs.LogFormat != "json" || c.Obs.TraceExporter != "none" {
		t.Fatalf("defaults: %+v", c)
	}
	if sc := c.Sessions; sc.Keys == nil || sc.Audience != "kairos" || sc.AccessTTL != 10*time.Minute || sc.RefreshTTL != 720*time.Hour ||
		sc.MaxAge != 2160*time.Hour || sc.ReuseGrace != 10*time.Second {
		t.Fatalf("session defaults: %+v", sc)
	}
	if strings.Contains(c.String(), "secret") {
		t.Fatalf("config string shows the database password: %s", c)
	}
}

func TestConfigParses(t *testing.T) {
	c, err := loadConfig(getenvFrom(map[string]string{
		"DATABASE_URL":          "postgres://db/kairos",
		"JWT_SIGNING_KEYS_FILE": keyFile(t),
		"TRUSTED_PROXIES":       "10.0.0.0/8, 192.168.1.7 ,fd00::/8",
		"CORS_ALLOWED_ORIGINS":  "https://app.example.com,http://localhost:3000/",
		"VERIFY_REDIRECT_URL":   "https://app.example.com/verified",
		"PUBLIC_URL":            "https://id.example.com/",
		"IP_RATE_LIMIT_RPS":     "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 3 || c.TrustedProxies[1].String() != "192.168.1.7/32" {
		t.Fatalf("TRUSTED_PROXIES: %v", c.TrustedProxies)
	}
	if strings.Join(c.CORSAllowedOrigins, " ") != "https://app.example.com http://localhost:3000" {
		t.Fatalf("CORS_ALLOWED_ORIGINS: %v", c.CORSAllowedOrigins)
	}
	if c.PublicURL != "https://id.example.com" || c.VerifyRedirect.Host != "app.example.com" || c.IPRateLimitRPS != 0 {
		t.Fatalf("%+v", c)
	}
}

// A missing or invalid value stops the process with one line naming the
// variable (and never showing a password).
func TestBadConfigurationStopsRun(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u:pw@127.0.0.1:1/x", "JWT_SIGNING_KEYS_FILE": keyFile(t)}
	notAKey := filepath.Join(t.TempDir(), "not-a-key.pem")
	if err := os.WriteFile(notAKey, []byte("-----BEGIN RSA "+"PRIVATE KEY-----\ntopsecret\n-----END RSA PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key, value string
	}{
		{"missing database", "DATABASE_URL", ""},
		{"database not a URL", "DATABASE_URL", "mysql://u:topsecret@h/db"},
		{"ttl", "VERIFICATION_TOKEN_TTL", "tomorrow"},
		{"ttl negative", "VERIFICATION_TOKEN_TTL", "-1h"},
		{"password length below 8", "PASSWORD_MIN_LENGTH", "4"},
		{"password length over 256", "PASSWORD_MIN_LENGTH", "300"},
		{"argon2 memory below OWASP", "ARGON2_MEMORY_KIB", "1024"},
		{"argon2 time below OWASP", "ARGON2_TIME", "1"},
		{"argon2 lanes", "ARGON2_PARALLELISM", "0"},
		{"hash concurrency", "HASH_CONCURRENCY", "0"},
		{"hash queue timeout", "HASH_QUEUE_TIMEOUT", "soon"},
		{"refusal hold", "REFUSAL_HOLD", "-1s"},
		{"login failures", "LOGIN_MAX_FAILURES", "five"},
		{"account ceiling above NIST's 100", "LOGIN_ACCOUNT_MAX_FAILURES", "101"},
		{"v4 prefix", "LOGIN_SOURCE_PREFIX_V4", "33"},
		{"v6 prefix", "LOGIN_SOURCE_PREFIX_V6", "8"},
		{"device key file missing", "DEVICE_COOKIE_KEY_FILE", "/nonexistent/device-keys"},
		{"device cookie ttl", "DEVICE_COOKIE_TTL", "1m"},
		{"rate", "IP_RATE_LIMIT_RPS", "-1"},
		{"rate NaN", "IP_RATE_LIMIT_RPS", "NaN"},
		{"burst", "IP_RATE_LIMIT_BURST", "0"},
		{"proxies", "TRUSTED_PROXIES", "10.0.0.0/8,not-a-cidr"},
		{"cors wildcard", "CORS_ALLOWED_ORIGINS", "*"},
		{"cors path", "CORS_ALLOWED_ORIGINS", "https://app.example.com/login"},
		{"public url", "PUBLIC_URL", "id.example.com"},
		{"redirect url", "VERIFY_REDIRECT_URL", "ftp://x"},
		{"shutdown", "SHUTDOWN_TIMEOUT", "20"},
		{"retention", "OUTBOX_RETENTION", "1s"},
		{"event retention", "EVENT_RETENTION", "1s"},
		{"reset url", "PASSWORD_RESET_URL", "ftp://x"},
		{"reset url fragment", "PASSWORD_RESET_URL", "https://app.example.com/reset#x"},
		{"reset ttl", "PASSWORD_RESET_TTL", "1s"},
		{"email change ttl", "EMAIL_CHANGE_TTL", "soon"},
		{"mail budget", "MAIL_BUDGET_PER_ADDRESS", "0"},
		{"replicas", "NATS_STREAM_REPLICAS", "0"},
		{"log level", "LOG_LEVEL", "loud"},
		{"log format", "LOG_FORMAT", "xml"},
		{"trace exporter", "OTEL_TRACES_EXPORTER", "zipkin"},
		// Addresses are checked before anything connects: the database
		// (port 1) would fail otherwise, naming DATABASE_URL.
		{"http addr", "HTTP_ADDR", "notaport"},
		{"admin addr", "ADMIN_ADDR", "9090"},
		{"nats url", "NATS_URL", "bogus"},
		{"nats url scheme", "NATS_URL", "http://x"},
		{"nats url with a password", "NATS_URL", "nats://u:topsecret@"},
		{"nats password without user", "NATS_PASSWORD_FILE", "/nonexistent/password"},
		{"nats creds missing", "NATS_CREDS_FILE", "/nonexistent/kairos.creds"},
		{"nats ca missing", "NATS_TLS_CA_FILE", "/nonexistent/ca.pem"},
		{"no signing keys", "JWT_SIGNING_KEYS_FILE", ""},
		{"signing keys file missing", "JWT_SIGNING_KEYS_FILE", "/nonexistent/keys.pem"},
		{"signing keys not a key", "JWT_SIGNING_KEYS_FILE", notAKey},
		{"access ttl", "ACCESS_TOKEN_TTL", "10"},
		{"access ttl over a day", "ACCESS_TOKEN_TTL", "25h"},
		{"refresh ttl", "REFRESH_TOKEN_TTL", "-1h"},
		{"session max age", "SESSION_MAX_AGE", "forever"},
		{"reuse grace", "REFRESH_REUSE_GRACE", "-1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			env[tt.key] = tt.value
			var out strings.Builder
			err := run(context.Background(), []string{"auth-api"}, getenvFrom(env), &out)
			if err == nil {
				t.Fatal("run started with a bad value")
			}
			if out.Len() > 0 {
				t.Errorf("logged before the settings were checked: %s", out.String())
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.key+":") || strings.Contains(msg, "\n") || strings.Contains(msg, "topsecret") {
				t.Fatalf("error %q does not name %s in one line (or shows a secret)", msg, tt.key)
			}
		})
	}
}

// The device key file: keys one per line; a short key is refused in one
// line that names the variable and never shows the key.
func TestDeviceCookieKeyFile(t *testing.T) {
	dir := t.TempDir()
	good, short := filepath.Join(dir, "good"), filepath.Join(dir, "short")
	if err := os.WriteFile(good, []byte("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\nAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte("dG9wc2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(getenvFrom(map[string]string{"DATABASE_URL": "postgres://db/k", "JWT_SIGNING_KEYS_FILE": keyFile(t), "DEVICE_COOKIE_KEY_FILE": good}))
	if err != nil || len(c.DeviceCookieKeys) != 2 || c.DeviceCookieKeys[0][0] != 1 {
		t.Fatalf("good file: %d keys, %v", len(c.DeviceCookieKeys), err)
	}
	_, err = loadConfig(getenvFrom(map[string]string{"DATABASE_URL": "postgres://db/k", "JWT_SIGNING_KEYS_FILE": keyFile(t), "DEVICE_COOKIE_KEY_FILE": short}))
	if err == nil || !strings.HasPrefix(err.Error(), "DEVICE_COOKIE_KEY_FILE:") || strings.Contains(err.Error(), "dG9wc2VjcmV0") {
		t.Fatalf("short key: %v", err)
	}
}

// A duration below its floor is explained with examples above the floor.
func TestDurationMessage(t *testing.T) {
	_, err := loadConfig(getenvFrom(map[string]string{"DATABASE_URL": "postgres://db/k", "JWT_SIGNING_KEYS_FILE": keyFile(t), "VERIFICATION_TOKEN_TTL": "30s"}))
	want := `VERIFICATION_TOKEN_TTL: "30s" is not a duration of at least 1m (e.g. 24h, 48h)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		args       []string
		wantOut    string
		wantErrHas string
	}{
		{[]string{"auth-api", "version"}, "auth-api dev (commit dev)\n", ""},
		{[]string{"auth-api", "--version"}, "auth-api dev (commit dev)\n", ""},
		{[]string{"auth-api", "help"}, "Configuration", ""},
		{[]string{"auth-api", "-h"}, "migrate", ""},
		{[]string{"auth-api", "--help"}, "usage: auth-api", ""},
		{[]string{"auth-api", "serv"}, "", `unknown command "serv"; usage`},
		{[]string{"auth-api", "keys", "generate"}, pemHeader, ""},
		{[]string{"auth-api", "keys", "generate", "--type", "ed25519"}, pemHeader, ""},
		{[]string{"auth-api", "keys", "generate", "--type", "rsa"}, "", "unknown key type"},
		{[]string{"auth-api", "keys"}, "", "usage: auth-api keys generate"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			var out strings.Builder
			err := run(context.Background(), tt.args, getenvFrom(nil), &out)
			if tt.wantErrHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrHas) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErrHas)
				}
				return
			}
			if err != nil || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("out %q, err %v; want %q", out.String(), err, tt.wantOut)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(context.Background(), []string{"auth-api", "serv"}, getenvFrom(nil), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "usage") {
		t.Fatalf("unknown command: %v", err)
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"auth-api", "version"}, getenvFrom(nil), &out); err != nil ||
		!strings.HasPrefix(out.String(), "auth-api ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
}

// pemHeader starts a PKCS#8 private key (in pieces: no key scanner should
// take this file for one).
const pemHeader = "-----BEGIN " + "PRIVATE KEY-----"
