package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"

	"github.com/kairos-platform/identity/pkg/admin"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/pkg/telemetry"
	"github.com/kairos-platform/identity/services/notifier/internal/agent"
	"github.com/kairos-platform/identity/services/notifier/internal/consumer"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
	"github.com/kairos-platform/identity/services/notifier/internal/smtp"
)

const usage = "usage: notifier [serve] | notifier dlq list | notifier dlq replay (--all | ID...)"

// run is the whole program; main only supplies the process's context,
// arguments, environment and stdout, so tests can run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		switch args[1] {
		case "serve":
		case "dlq":
			return runDLQ(ctx, args[2:], getenv, stdout)
		case "version", "--version":
			c := commit
			if c == "" {
				c = "unknown commit"
			}
			_, err := fmt.Fprintf(stdout, "notifier %s (%s)\n", buildVersion(), c)
			return err
		default:
			return fmt.Errorf("unknown command %q; %s", args[1], usage)
		}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, getenv, stdout)
}

func buildVersion() string {
	if version == "" {
		return "dev"
	}
	return version
}

func serve(ctx context.Context, cfg config, getenv func(string) string, stdout io.Writer) error {
	// Logger.
	log, err := telemetry.NewLogger(stdout, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}

	// Tracing: OTEL_* variables; a no-op provider when unset.
	tracing, err := telemetry.SetupTracing(ctx, getenv, stdout, "notifier", buildVersion())
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tracing.Shutdown(sctx)
	}()
	tp, prop := tracing.Provider, otel.GetTextMapPropagator()

	// Metrics.
	reg := telemetry.NewRegistry("notifier", buildVersion(), commit)

	// NATS: reconnect forever, and start even while the server is away;
	// readiness reports it until then.
	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name("kairos-notifier"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("NATS disconnected", "error", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return fmt.Errorf("NATS_URL: %w", err)
	}
	defer nc.Close()
	if err := telemetry.RegisterNATS(reg, nc); err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("NATS_URL: %w", err)
	}

	// Email: SMTP adapter and the email handler.
	mailer, err := smtp.New(smtp.Config{Addr: cfg.SMTPAddr, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
		TLS: cfg.SMTPTLS, Timeout: cfg.SMTPTimeout, PoolSize: cfg.Concurrency})
	if err != nil {
		return err
	}
	defer mailer.Close()
	emailer, err := notify.NewEmailer(notify.EmailConfig{From: cfg.MailFrom, SubjectVerification: cfg.SubjectVerification,
		SubjectDuplicateSignup: cfg.SubjectDuplicateSignup}, mailer, tp, reg)
	if err != nil {
		return err
	}
	handlers := map[string]notify.Handler{"email": emailer}
	subjects := map[string][]string{"email": notify.EmailSubjects, "agent": notify.AgentSubjects}

	// Agent: optional for local development. Its metrics exist either way,
	// so dashboards and alerts see the same series everywhere.
	agentMetrics, err := agent.NewMetrics(reg)
	if err != nil {
		return err
	}
	var agentClient notify.AgentClient
	if cfg.AgentBaseURL == "" {
		log.Warn("AGENT_BASE_URL is empty: the agent consumer is not started and no user is synced to the Agent")
	} else {
		agentClient, err = agent.New(agent.Config{BaseURL: cfg.AgentBaseURL, Token: cfg.AgentToken, Timeout: cfg.AgentTimeout,
			MaxConns: cfg.Concurrency}, tp, prop, agentMetrics)
		if err != nil {
			return err
		}
	}
	syncer, err := notify.NewSyncer(agentClient, tp, reg)
	if err != nil {
		return err
	}
	if agentClient != nil {
		handlers["agent"] = syncer
	}
	metrics, err := consumer.NewMetrics(reg, subjects)
	if err != nil {
		return err
	}

	// Consumers, created once the streams exist.
	var (
		mu        sync.Mutex
		consumers []*consumer.Consumer
	)
	ready := func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("NATS not connected")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(consumers) < len(handlers) {
			return errors.New("consumers not bound yet")
		}
		for _, c := range consumers {
			if !c.Bound() {
				return fmt.Errorf("consumer %s not bound", c.Name())
			}
		}
		return nil
	}

	// Admin port.
	adm := admin.New(reg, ready)
	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	adminSrv := &http.Server{Handler: adm.Handler(), ReadHeaderTimeout: 5 * time.Second}
	log.Info("notifier starting", "version", buildVersion(), "commit", commit, "admin", ln.Addr().String(),
		"nats", nc.ConnectedUrlRedacted(), "smtp", cfg.SMTPAddr, "agent_sync", cfg.AgentBaseURL != "",
		"concurrency", cfg.Concurrency)
	log.Info("admin listening", "addr", ln.Addr().String())

	// Handlers get a context that outlives ctx by the shutdown grace period,
	// so in-flight messages finish after SIGTERM.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	adminErr := make(chan error, 1)
	go func() {
		if err := adminSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			adminErr <- fmt.Errorf("admin server: %w", err)
		}
		close(adminErr)
	}()
	consumersDone := make(chan struct{})
	go func() {
		defer close(consumersDone)
		kv, err := ensureInfra(ctx, js, cfg.NATSReplicas, log)
		if err != nil {
			return // shutting down before NATS answered
		}
		var wg sync.WaitGroup
		mu.Lock()
		for _, name := range []string{"email", "agent"} {
			h, ok := handlers[name]
			if !ok {
				continue
			}
			c := consumer.New(consumer.Config{
				Name: name, Subjects: subjects[name], Replicas: cfg.NATSReplicas,
				Concurrency: cfg.Concurrency, MaxAckPending: cfg.MaxAckPending, MaxDeliver: cfg.MaxDeliver,
				RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax, AckWait: cfg.AckWait,
			}, js, kv, h, log, tp, prop, metrics)
			consumers = append(consumers, c)
			wg.Go(func() { _ = c.Run(ctx, work) })
		}
		mu.Unlock()
		wg.Wait()
	}()

	// Run until SIGTERM (ctx) or the admin server fails.
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-adminErr:
	}
	cancel()

	// Shutdown, in reverse: not ready; stop fetching and let in-flight
	// messages finish within the grace period; drain NATS; close the admin
	// port. Tracing is flushed by the deferred shutdown.
	adm.Drain()
	log.Info("shutting down", "grace", cfg.ShutdownTimeout.String())
	grace := time.AfterFunc(cfg.ShutdownTimeout, cancelWork)
	<-consumersDone
	grace.Stop()
	drainNATS(nc, 5*time.Second, log)
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = adminSrv.Shutdown(sctx)
	if runErr != nil {
		return runErr
	}
	log.Info("stopped")
	return nil
}

// ensureInfra creates the streams and the idempotency bucket, retrying
// until NATS answers or ctx ends.
func ensureInfra(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (jetstream.KeyValue, error) {
	return natsx.Retry(ctx, log, "set up JetStream", func(ctx context.Context) (jetstream.KeyValue, error) {
		return consumer.Ensure(ctx, js, replicas)
	})
}

// drainNATS flushes and closes the connection, waiting at most timeout.
func drainNATS(nc *nats.Conn, timeout time.Duration, log *slog.Logger) {
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	deadline := time.Now().Add(timeout)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !nc.IsClosed() {
		log.Warn("NATS drain timed out")
		nc.Close()
	}
}

// runDLQ implements `notifier dlq list` and `notifier dlq replay`.
func runDLQ(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		return errors.New(usage)
	}
	var ids []uint64
	all := false
	if args[0] == "replay" {
		for _, a := range args[1:] {
			if a == "--all" || a == "-all" {
				all = true
				continue
			}
			id, err := strconv.ParseUint(a, 10, 64)
			if err != nil || id == 0 {
				return fmt.Errorf("dlq replay: %q is not a dead-letter id (see notifier dlq list); %s", a, usage)
			}
			ids = append(ids, id)
		}
		if all == (len(ids) > 0) {
			return fmt.Errorf("dlq replay: give --all or IDs, not both or neither; %s", usage)
		}
	} else if len(args) > 1 {
		return errors.New(usage)
	}
	cfg, err := loadNATSConfig(getenv)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("kairos-notifier-dlq"), nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("NATS_URL: cannot connect to %s: %w", natsx.Redact(cfg.NATSURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if args[0] == "list" {
		return consumer.List(ctx, js, stdout)
	}
	return consumer.Replay(ctx, js, ids, all, stdout)
}
