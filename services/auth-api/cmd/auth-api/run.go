package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/admin"
	"github.com/kairos-platform/identity/pkg/envconf"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/pkg/telemetry"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth/passwords"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
	"github.com/kairos-platform/identity/services/auth-api/internal/outbox"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

// run is the whole program: main only adds the signal context and the exit
// code. Tests call it with a fake getenv and port 0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 1 {
		cmd = args[1]
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stdout)
	case "migrate":
		return migrate(ctx, getenv, stdout)
	case "version", "-version", "--version":
		_, err := fmt.Fprintf(stdout, "auth-api %s (commit %s)\n", orDev(version), orDev(commit))
		return err
	default:
		return fmt.Errorf("unknown command %q; usage: auth-api [serve|migrate|version]", cmd)
	}
}

// migrate applies the embedded migrations under goose's advisory lock, so
// several concurrent runs (pods, a Job) are safe, and exits.
func migrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	e := envconf.New(getenv)
	dbURL := databaseURL(e)
	logger, err := telemetry.NewLogger(stdout, e.Str("LOG_LEVEL", "info"), e.Str("LOG_FORMAT", "json"))
	if err := e.Err(); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if err := migrations.UpURL(ctx, dbURL); err != nil {
		return fmt.Errorf("migrate %s: %w", redactURL(dbURL), err)
	}
	logger.InfoContext(ctx, "migrations applied", "database", redactURL(dbURL))
	return nil
}

func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}

	// Observability: logger, tracer provider (and the W3C propagator), registry.
	logger, err := telemetry.NewLogger(stdout, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	tracing, err := telemetry.SetupTracing(ctx, getenv, stdout, "auth-api", orDev(version))
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(sctx); err != nil {
			logger.Warn("flushing traces failed", "error", err)
		}
	}()
	reg := telemetry.NewRegistry("auth-api", orDev(version), orDev(commit))

	// PostgreSQL: a pool traced by otelpgx (statements, never parameter
	// values), and a refusal to start on a schema that is behind.
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %s: %v", redactURL(cfg.DatabaseURL), err)
	}
	pcfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(tracing.Provider))
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	if err := telemetry.RegisterPgxPool(reg, pool); err != nil {
		return err
	}
	if err := checkSchema(ctx, pool); err != nil {
		return err
	}
	store := postgres.New(pool)

	// NATS: connecting never blocks start-up (signups work without NATS;
	// the outbox keeps their events until it is back).
	ncClosed := make(chan struct{})
	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name("auth-api"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("nats disconnected", "error", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("nats reconnected", "server", c.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(ncClosed) }),
	)
	if err != nil {
		return fmt.Errorf("NATS_URL: %s: %w", natsx.Redact(cfg.NATSURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := telemetry.RegisterNATS(reg, nc); err != nil {
		return err
	}

	// Domain: hasher, rules, outbox relay.
	hasher, err := auth.NewHasher(cfg.Argon2, auth.HasherOptions{
		Concurrency: cfg.HashConcurrency, QueueTimeout: cfg.HashQueueTimeout, Registerer: reg,
	})
	if err != nil {
		return err
	}
	svc, err := auth.New(store, hasher, auth.Config{
		PublicURL: cfg.PublicURL, TokenTTL: cfg.TokenTTL, MaxLoginFailures: cfg.LoginMaxFailures,
		Logger: logger, Registerer: reg,
	})
	if err != nil {
		return err
	}
	rel := outbox.NewRelay(store, js, outbox.Options{
		Logger: logger, TracerProvider: tracing.Provider, Registerer: reg,
		StreamReplicas: cfg.StreamReplicas, Retention: cfg.OutboxRetention,
	})

	// HTTP: the public API and the admin port, each on its own listener.
	handler, err := httpapi.New(httpapi.Options{
		Auth:               svc,
		Policy:             auth.Policy{MinPasswordLength: cfg.PasswordMinLength, Common: passwords.Common()},
		Limiter:            httpapi.NewIPLimiter(cfg.IPRateLimitRPS, cfg.IPRateLimitBurst, nil),
		ClientIP:           httpapi.ClientIP{Trusted: cfg.TrustedProxies},
		CORSOrigins:        cfg.CORSAllowedOrigins,
		VerifyRedirect:     cfg.VerifyRedirect,
		OverloadRetryAfter: cfg.HashQueueTimeout,
		Logger:             logger,
		Registerer:         reg,
		TracerProvider:     tracing.Provider,
	})
	if err != nil {
		return err
	}
	adm := admin.New(reg, store.Ping)
	var lc net.ListenConfig
	apiLn, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	defer apiLn.Close()
	adminLn, err := lc.Listen(ctx, "tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	defer adminLn.Close()
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	apiSrv := &http.Server{Handler: handler, ErrorLog: errLog,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	adminSrv := &http.Server{Handler: adm.Handler(), ErrorLog: errLog, ReadHeaderTimeout: 10 * time.Second}
	// Tests (and operators) learn the bound addresses from this line.
	logger.Info("listening", "http", apiLn.Addr().String(), "admin", adminLn.Addr().String(),
		"version", orDev(version), "commit", orDev(commit), "config", cfg.String())

	// Run everything; the first failure or the signal starts the shutdown.
	g, gctx := errgroup.WithContext(ctx)
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	relayDone := make(chan struct{})
	g.Go(func() error {
		defer close(relayDone)
		if err := rel.Run(relayCtx); err != nil {
			return fmt.Errorf("outbox relay: %w", err)
		}
		return nil
	})
	g.Go(func() error { return serveHTTP("http", apiSrv, apiLn) })
	g.Go(func() error { return serveHTTP("admin", adminSrv, adminLn) })
	g.Go(func() error {
		pruneLoginThrottle(gctx, store, logger)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("shutting down")
		// Not ready first, so load balancers stop sending work; then let
		// in-flight requests finish.
		adm.Drain()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := apiSrv.Shutdown(sctx); err != nil {
			logger.Warn("in-flight requests did not finish within SHUTDOWN_TIMEOUT; closing", "error", err)
			_ = apiSrv.Close()
		}
		// The relay stops after the last request that could write an event.
		stopRelay()
		<-relayDone
		if err := nc.Drain(); err == nil {
			select {
			case <-ncClosed:
			case <-sctx.Done():
			}
		}
		_ = adminSrv.Shutdown(sctx)
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

func serveHTTP(name string, srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server: %w", name, err)
	}
	return nil
}

// checkSchema refuses to serve on a database whose schema is behind the
// binary's migrations.
func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	n, err := migrations.Pending(ctx, db)
	if err != nil {
		return fmt.Errorf("postgres: checking the schema: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("postgres: the schema is %d migration(s) behind this binary; run `auth-api migrate` first", n)
	}
	return nil
}

// pruneLoginThrottle deletes login-throttle entries idle for a day, hourly,
// so that failed logins for guessed addresses do not pile up forever.
func pruneLoginThrottle(ctx context.Context, store *postgres.Store, logger *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if _, err := store.PruneLoginThrottle(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
				logger.Warn("pruning the login throttle failed", "error", err)
			}
		}
	}
}

func orDev(s string) string {
	if s == "" {
		return "dev"
	}
	return s
}
