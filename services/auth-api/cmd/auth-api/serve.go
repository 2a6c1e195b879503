package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/pkg/lifecycle"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/pkg/telemetry"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth/passwords"
	"github.com/kairos-platform/identity/services/auth-api/internal/hashing"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
	"github.com/kairos-platform/identity/services/auth-api/internal/outbox"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

// serve builds the app from cfg and runs it until ctx ends. Every resource
// is also released by a defer, for the returns before the runner starts
// (the releases are idempotent).
func serve(ctx context.Context, cfg config, stdout io.Writer) error {
	// Observability: logger, tracer provider (and the W3C propagator), registry.
	logger, tracing, reg, err := telemetry.Setup{Service: "auth-api", Version: lifecycle.OrDev(version), Commit: lifecycle.OrDev(commit),
		LogLevel: cfg.Obs.LogLevel, LogFormat: telemetry.LogFormat(cfg.Obs.LogFormat),
		Tracing: telemetry.TraceExporter(cfg.Obs.TraceExporter), TraceName: cfg.Obs.ServiceName}.Build(ctx, stdout)
	if err != nil {
		return err
	}
	defer tracing.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // flushed (and checked) by the runner
	setMemoryLimit(cfg, os.DirFS("/"), logger)

	// Listeners before any connection: a taken port fails at once.
	apiLn, adminLn, err := listen(ctx, cfg)
	if err != nil {
		return err
	}
	defer apiLn.Close()
	defer adminLn.Close()

	// PostgreSQL: traced statements, and no start on a schema that is behind.
	pool, err := openPostgres(ctx, cfg.DatabaseURL, tracing.Provider, reg)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.New(pool).WithAuditLog(logger)

	// NATS: connecting never blocks start-up (signups work without NATS;
	// the outbox keeps their events until it is back).
	nc, js, err := natsx.Open(cfg.NATSURL, natsx.Options{Name: "auth-api", Logger: logger,
		InboxPrefix: "_INBOX_auth-api", Extra: natsx.AuthOptions(cfg.NATSAuth)}, reg)
	if err != nil {
		return fmt.Errorf("NATS_URL: %w", err)
	}
	defer nc.Close()

	// Sessions: access tokens, the deny-list and its feed, the checker.
	sess, err := newSessions(cfg, store, js, logger, reg)
	if err != nil {
		return err
	}

	// Domain and HTTP: the rules behind the public API; the outbox relay.
	api, svc, err := apiServer(cfg, store, sess, logger, tracing, reg)
	if err != nil {
		return err
	}
	// Admin API: on the admin port only, and only with tokens.
	adminAPI, err := adminHandler(cfg, store, svc, sess, logger, reg)
	if err != nil {
		return err
	}
	relay := outbox.NewRelay(store, js, outbox.Options{
		Logger: logger, TracerProvider: tracing.Provider, Registerer: reg,
		StreamReplicas: cfg.StreamReplicas, Retention: cfg.OutboxRetention, EventRetention: cfg.EventRetention,
	})

	freeStartupMemory()

	// Run until SIGTERM; stop in the runner's order. Tests (and operators)
	// learn the bound addresses from the "listening" line.
	logger.Info("listening", "http", apiLn.Addr().String(), "admin", adminLn.Addr().String(),
		"version", lifecycle.OrDev(version), "commit", lifecycle.OrDev(commit), "config", cfg.String())
	return lifecycle.Run(ctx, lifecycle.App{
		Logger: logger, Admin: adminLn, Gatherer: reg, AdminAPI: adminAPI,
		Checks:  []lifecycle.Check{{Name: "postgres", Ready: store.Ping}, {Name: "revocation feed", Ready: sess.replayed}},
		Servers: []lifecycle.Server{{Name: "http", Server: api, Listener: apiLn}},
		Workers: append([]lifecycle.Worker{{Name: "outbox relay", Run: relay.Run}, {Name: "revocation feed", Run: sess.follower.Run}},
			cleanups(cfg, store, sess, logger)...),
		Releases: []lifecycle.Release{{Name: "nats", Release: nc.Drain},
			{Name: "postgres", Release: func(context.Context) error { pool.Close(); return nil }}, {Name: "traces", Release: tracing.Shutdown}},
		ShutdownTimeout: cfg.ShutdownTimeout,
	})
}

// listen binds the API and admin addresses (port 0 in tests).
func listen(ctx context.Context, cfg config) (api, admin net.Listener, err error) {
	var lc net.ListenConfig
	if api, err = lc.Listen(ctx, "tcp", cfg.HTTPAddr); err != nil {
		return nil, nil, fmt.Errorf("HTTP_ADDR: %w", err)
	}
	if admin, err = lc.Listen(ctx, "tcp", cfg.AdminAddr); err != nil {
		api.Close()
		return nil, nil, fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	return api, admin, nil
}

// apiServer is the public API over the domain, in a server with bounded
// reads.
func apiServer(cfg config, store *postgres.Store, sess *sessions, logger *slog.Logger, tracing telemetry.Tracing, reg prometheus.Registerer) (*http.Server, *auth.Service, error) {
	// Without device cookies every login counts by its network, so the
	// account-wide ceiling shuts out owners too: worth a warning.
	if len(cfg.DeviceCookieKeys) == 0 {
		logger.Warn("DEVICE_COOKIE_KEY_FILE is unset: no device cookies; an attack reaching LOGIN_ACCOUNT_MAX_FAILURES shuts out the owner until a password reset")
	}
	svc, hasher, err := newAuth(cfg, store, logger, reg, tracing.Provider)
	if err != nil {
		return nil, nil, err
	}
	jwks, err := cfg.Sessions.Keys.JWKS()
	if err != nil {
		return nil, nil, err
	}
	discovery, err := cfg.Sessions.Keys.Discovery(cfg.PublicURL)
	if err != nil {
		return nil, nil, err
	}
	handler, err := httpapi.New(httpapi.Options{
		Auth:               svc,
		Policy:             auth.Policy{MinPasswordLength: cfg.PasswordMinLength, Common: passwords.Common()},
		Limiter:            httpapi.NewIPLimiter(cfg.IPRateLimitRPS, cfg.IPRateLimitBurst, nil),
		ClientIP:           httpapi.ClientIP{Trusted: cfg.TrustedProxies},
		DeviceCookies:      httpapi.NewDeviceCookies(cfg.DeviceCookieKeys, cfg.DeviceCookieTTL, nil),
		CORSOrigins:        cfg.CORSAllowedOrigins,
		VerifyRedirect:     cfg.VerifyRedirect,
		OverloadRetryAfter: cfg.HashQueueTimeout,
		Gate:               hasher,
		RefusalHold:        cfg.RefusalHold,
		Sessions:           sess.service,
		Checker:            sess.checker,
		Directory:          store,
		JWKS:               jwks,
		Discovery:          discovery,
		DocumentMaxAge:     jwksMaxAge,
		Logger:             logger,
		Registerer:         reg,
		TracerProvider:     tracing.Provider,
	})
	if err != nil {
		return nil, nil, err
	}
	return &http.Server{Handler: handler, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}, svc, nil
}

// jwksMaxAge is how long gateways may cache the JWKS: a next key must be
// published at least this long before it is promoted to sign.
const jwksMaxAge = 5 * time.Minute

// newAuth is the domain: the argon2id hasher (whose admission gate the
// HTTP layer applies before reading a body), and the signup, verify and
// login rules, which build verify links with the router's own route.
func newAuth(cfg config, store *postgres.Store, logger *slog.Logger, reg prometheus.Registerer, tp trace.TracerProvider) (*auth.Service, *hashing.Hasher, error) {
	hasher, err := hashing.New(cfg.Argon2, hashing.Options{
		Concurrency: cfg.HashConcurrency, QueueTimeout: cfg.HashQueueTimeout, Registerer: reg, TracerProvider: tp,
	})
	if err != nil {
		return nil, nil, err
	}
	svc, err := auth.New(store, hasher, auth.Config{
		VerifyURL: httpapi.VerifyURL(cfg.PublicURL), TokenTTL: cfg.TokenTTL, MaxLoginFailures: cfg.LoginMaxFailures,
		ResetURL: httpapi.ResetURL(cfg.PublicURL, cfg.ResetRedirect), ResetTTL: cfg.ResetTTL, MailBudget: cfg.MailBudget,
		EmailConfirmURL: httpapi.EmailConfirmURL(cfg.PublicURL), EmailChangeTTL: cfg.EmailChangeTTL,
		MaxAccountFailures: cfg.LoginAccountMaxFailures,
		SourcePrefixV4:     cfg.LoginSourcePrefixV4, SourcePrefixV6: cfg.LoginSourcePrefixV6,
		Logger: logger, Registerer: reg,
	})
	return svc, hasher, err
}

// cleanups are the periodic jobs any replica may run at any time: throttle
// rows idle for a day (so guessed addresses do not pile up), spent mail
// budgets, deny-list entries whose tokens have all expired, sessions ended
// for a day.
func cleanups(cfg config, store *postgres.Store, sess *sessions, logger *slog.Logger) []lifecycle.Worker {
	return []lifecycle.Worker{
		{Name: "login throttle pruning", Run: lifecycle.Every(time.Hour, logger, "pruning the login throttle",
			func(ctx context.Context, now time.Time) error {
				_, err := store.PruneLoginThrottle(ctx, now.Add(-24*time.Hour), cfg.LoginAccountMaxFailures)
				return err
			})},
		{Name: "mail budget pruning", Run: lifecycle.Every(time.Hour, logger, "pruning the mail budget",
			func(ctx context.Context, _ time.Time) error {
				_, err := store.PruneMailBudget(ctx) // spent budgets: their hour is over
				return err
			})},
		{Name: "deny-list pruning", Run: lifecycle.Every(time.Minute, logger, "pruning the deny-list",
			func(_ context.Context, now time.Time) error { sess.list.Prune(now); return nil })},
		{Name: "ended session cleanup", Run: lifecycle.Every(time.Hour, logger, "deleting ended sessions",
			func(ctx context.Context, _ time.Time) error {
				_, err := store.DeleteEndedSessions(ctx, endedSessionsKept)
				return err
			})},
		{Name: "audit pruning", Run: lifecycle.Every(time.Hour, logger, "pruning the audit trail",
			func(ctx context.Context, _ time.Time) error {
				_, err := store.PruneAudit(ctx, cfg.AuditRetention) // through audit_log_prune only
				return err
			})},
	}
}
