package main

import (
	"slices"
	"strings"
)

// What the children get from the caller's environment. The services' own
// settings (README, "Configuration") pass through, so `LOG_LEVEL=debug make
// dev` does what it says; so do what a process needs to run and the
// OpenTelemetry settings. devstack wires a few settings itself: those it
// ignores from the environment, and says so.
var (
	// processEnv is what any process needs.
	processEnv = []string{"PATH", "HOME", "TMPDIR", "TZ", "GOMAXPROCS", "GOMEMLIMIT", "GODEBUG"}

	// serviceEnv are the documented settings of either service that the
	// caller may set. Each service ignores the other's.
	serviceEnv = []string{
		"NATS_STREAM_REPLICAS", "NATS_CREDS_FILE", "NATS_USER", "NATS_PASSWORD_FILE", "NATS_TLS_CA_FILE",
		"NATS_TLS_CERT_FILE", "NATS_TLS_KEY_FILE", "PUBLIC_URL", "VERIFY_REDIRECT_URL", "VERIFICATION_TOKEN_TTL",
		"PASSWORD_MIN_LENGTH", "ARGON2_MEMORY_KIB", "ARGON2_TIME", "ARGON2_PARALLELISM",
		"HASH_CONCURRENCY", "HASH_QUEUE_TIMEOUT", "REFUSAL_HOLD", "LOGIN_MAX_FAILURES", "LOGIN_ACCOUNT_MAX_FAILURES",
		"LOGIN_SOURCE_PREFIX_V4", "LOGIN_SOURCE_PREFIX_V6", "DEVICE_COOKIE_KEY_FILE", "DEVICE_COOKIE_TTL", "IP_RATE_LIMIT_RPS",
		"IP_RATE_LIMIT_BURST", "TRUSTED_PROXIES", "CORS_ALLOWED_ORIGINS", "SHUTDOWN_TIMEOUT",
		"OUTBOX_RETENTION", "LOG_LEVEL", "LOG_FORMAT",
		"EVENT_RETENTION", "PASSWORD_RESET_URL", "PASSWORD_RESET_TTL", "EMAIL_CHANGE_TTL", "MAIL_BUDGET_PER_ADDRESS",
		"AGENT_SYNC_EVENTS", "MAIL_SUBJECT_PASSWORD_RESET", "MAIL_SUBJECT_PASSWORD_CHANGED",
		"MAIL_SUBJECT_EMAIL_CHANGE_CONFIRM", "MAIL_SUBJECT_EMAIL_CHANGE_NOTICE", "MAIL_SUBJECT_GOODBYE",
		"JWT_SIGNING_KEYS_FILE", "JWT_AUDIENCE", "ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "SESSION_MAX_AGE", "REFRESH_REUSE_GRACE",
		"ADMIN_API_TOKEN_FILE", "AUDIT_RETENTION",
		"SMTP_TIMEOUT", "MAIL_FROM", "MAIL_SUBJECT_VERIFICATION", "MAIL_SUBJECT_DUPLICATE_SIGNUP",
		"MAIL_SUBJECT_LOGIN_ATTACK",
		"AGENT_TIMEOUT", "NOTIFIER_CONCURRENCY", "NOTIFIER_MAX_ACK_PENDING", "NOTIFIER_MAX_DELIVER",
		"NOTIFIER_RETRY_BASE", "NOTIFIER_RETRY_MAX", "NOTIFIER_ACK_WAIT",
	}

	// wiredEnv are set by devstack, with what to do instead. DATABASE_URL
	// and NATS_URL are read by devstack itself and passed on.
	wiredEnv = map[string]string{
		"HTTP_ADDR":           "use DEVFLAGS='-http ADDR'",
		"ADMIN_ADDR":          "use DEVFLAGS='-admin ADDR' or '-notifier-admin ADDR'",
		"SMTP_ADDR":           "mail goes to devstack's mail catcher",
		"SMTP_TLS":            "mail goes to devstack's mail catcher",
		"SMTP_USERNAME":       "mail goes to devstack's mail catcher",
		"SMTP_PASSWORD":       "mail goes to devstack's mail catcher",
		"AGENT_BASE_URL":      "Agent calls go to devstack's fake Agent",
		"AGENT_SERVICE_TOKEN": "Agent calls go to devstack's fake Agent",
	}
)

// childEnv is the environment of a child: devstack's defaults (readable
// logs), then what passes through from the caller, then devstack's wiring
// (a later entry wins).
// passed lists the service settings taken from the caller, ignored the
// wired ones the caller set, each with what to do instead.
func childEnv(getenv func(string) string, defaults, wiring []string) (env, passed, ignored []string) {
	env = append([]string{"LOG_FORMAT=text", "LOG_LEVEL=info"}, defaults...)
	for _, k := range processEnv {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range serviceEnv {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
			passed = append(passed, k)
		}
	}
	env = append(env, environOTel(getenv)...)
	for _, k := range sortedKeys(wiredEnv) {
		if getenv(k) != "" {
			ignored = append(ignored, k+" ("+wiredEnv[k]+")")
		}
	}
	return append(env, wiring...), passed, ignored
}

// otelEnv are the OpenTelemetry SDK settings devstack passes on.
var otelEnv = []string{
	"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_INSECURE",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED",
}

func environOTel(getenv func(string) string) []string {
	var env []string
	for _, k := range otelEnv {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// envNote says in one line what came from the caller's environment.
func envNote(passed, ignored []string) string {
	var parts []string
	if len(passed) > 0 {
		parts = append(parts, "from your environment: "+strings.Join(passed, ", "))
	}
	if len(ignored) > 0 {
		parts = append(parts, "ignored from your environment: "+strings.Join(ignored, "; "))
	}
	return strings.Join(parts, "\n")
}
