package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/pkg/lifecycle"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/pkg/telemetry"
	"github.com/kairos-platform/identity/services/notifier/internal/agent"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
	"github.com/kairos-platform/identity/services/notifier/internal/smtp"
)

// serve builds the app from cfg and runs it until ctx ends. Every resource
// is also released by a defer, for the returns before the runner starts
// (the releases are idempotent).
func serve(ctx context.Context, cfg config, stdout io.Writer) error {
	// Observability: logger, tracer provider (and the W3C propagator), registry.
	log, tracing, reg, err := telemetry.Setup{Service: "notifier", Version: lifecycle.OrDev(version), Commit: commit,
		LogLevel: cfg.Obs.LogLevel, LogFormat: telemetry.LogFormat(cfg.Obs.LogFormat),
		Tracing: telemetry.TraceExporter(cfg.Obs.TraceExporter), TraceName: cfg.Obs.ServiceName}.Build(ctx, stdout)
	if err != nil {
		return err
	}
	defer tracing.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // flushed (and checked) by the runner
	tp, prop := tracing.Provider, otel.GetTextMapPropagator()

	// Go's memory limit follows the container's, unless GOMEMLIMIT is set.
	lim, err := lifecycle.SetMemoryLimit(cfg.GoMemLimit, os.DirFS("/"))
	if err != nil {
		log.Warn("container memory limit unreadable; Go memory limit left as it was", "error", err)
	}
	log.Info("memory limit", "go_limit_mib", lim.Bytes>>20, "source", lim.Source, "container_mib", lim.Container>>20)

	// Admin port before any connection: a taken port fails at once.
	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	defer ln.Close()

	// NATS: reconnect forever, and start even while the server is away;
	// readiness reports it until then.
	nc, js, err := natsx.Open(cfg.NATSURL, natsx.Options{Name: "kairos-notifier", Logger: log,
		InboxPrefix: inboxPrefix, Extra: natsx.AuthOptions(cfg.NATSAuth)}, reg)
	if err != nil {
		return fmt.Errorf("NATS_URL: %w", err)
	}
	defer nc.Close()

	// Email over SMTP; the Agent sync when configured.
	mailer, err := smtp.New(smtp.Config{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername,
		Password: cfg.SMTPPassword, TLS: cfg.SMTPTLS, Timeout: cfg.SMTPTimeout, PoolSize: cfg.Concurrency})
	if err != nil {
		return err
	}
	defer mailer.Close()
	pipes, err := pipelines(cfg, mailer, log, tp, prop, reg)
	if err != nil {
		return err
	}

	// Consumers: one worker sets up the streams, then runs one per pipeline.
	cs, err := newConsumers(cfg, js, pipes, log, tp, prop, reg)
	if err != nil {
		return err
	}

	log.Info("notifier starting", "version", lifecycle.OrDev(version), "commit", commit, "admin", ln.Addr().String(),
		"nats", natsx.Redact(cfg.NATSURL), "smtp", cfg.SMTPHost, "agent_sync", cfg.AgentBaseURL != nil,
		"concurrency", cfg.Concurrency, "config", cfg.String())
	log.Info("admin listening", "addr", ln.Addr().String())
	return lifecycle.Run(ctx, lifecycle.App{
		Logger: log, Admin: ln, Gatherer: reg,
		Checks:  append([]lifecycle.Check{{Name: "nats", Ready: natsConnected(nc)}}, cs.checks()...),
		Workers: []lifecycle.Worker{{Name: "consumers", Run: cs.run}},
		Releases: []lifecycle.Release{
			{Name: "nats", Release: nc.Drain},
			{Name: "smtp", Release: func(context.Context) error { return mailer.Close() }},
			{Name: "traces", Release: tracing.Shutdown},
		},
		ShutdownTimeout: cfg.ShutdownTimeout,
	})
}

// pipelines are the consumers to run: email always, the Agent sync when
// AGENT_BASE_URL is set. The Agent's metrics exist either way, so dashboards
// and alerts see the same series everywhere.
func pipelines(cfg config, mailer notify.Mailer, log *slog.Logger, tp trace.TracerProvider,
	prop propagation.TextMapPropagator, reg prometheus.Registerer) ([]*pipeline, error) {
	emailer, err := notify.NewEmailer(notify.EmailConfig{From: cfg.MailFrom, SubjectVerification: cfg.SubjectVerification,
		SubjectDuplicateSignup: cfg.SubjectDuplicateSignup, SubjectLoginAttack: cfg.SubjectLoginAttack, Subjects: cfg.Subjects}, mailer, tp, reg)
	if err != nil {
		return nil, err
	}
	pipes := []*pipeline{{name: "email", subjects: notify.EmailSubjects, handler: emailer}}
	agentMetrics, err := agent.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	var client notify.AgentClient
	if cfg.AgentBaseURL == nil {
		log.Warn("AGENT_BASE_URL is empty: the agent consumer is not started and no user is synced to the Agent")
	} else {
		client = agent.New(agent.Config{BaseURL: cfg.AgentBaseURL, Token: cfg.AgentToken, Timeout: cfg.AgentTimeout,
			MaxConns: cfg.Concurrency}, tp, prop, agentMetrics)
	}
	syncer, err := notify.NewSyncer(client, cfg.AgentSync, tp, reg)
	if err != nil {
		return nil, err
	}
	if client != nil {
		// Every subject the Agent could take, whatever AGENT_SYNC_EVENTS
		// says: the syncer acknowledges the others unhandled, and the
		// durable's filter stays the same when the setting changes.
		pipes = append(pipes, &pipeline{name: "agent", subjects: notify.AgentSubjects, handler: syncer})
	}
	return pipes, nil
}
