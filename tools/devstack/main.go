// Command devstack is `make dev`: the whole Kairos identity system on this
// machine, as a new user would want it. It finds PostgreSQL (DATABASE_URL, or
// the local server, creating database kairos), runs NATS JetStream in process
// unless NATS_URL is set, migrates, builds bin/auth-api and bin/notifier, and
// runs them as child processes next to an in-process mail catcher (which
// prints every mail, link included) and a fake Agent. Ctrl-C stops it all.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/pkg/pgtest"
	"github.com/kairos-platform/identity/pkg/smtptest"
	"github.com/kairos-platform/identity/tools/internal/gobuild"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

type options struct {
	httpAddr, adminAddr, notifierAdminAddr string
	printEvents                            bool
	noNotifier                             bool
	stopTimeout                            time.Duration
}

func parseFlags(args []string, stdout io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&o.httpAddr, "http", ":8080", "auth-api public listener")
	fs.StringVar(&o.adminAddr, "admin", ":9090", "auth-api admin listener (/healthz, /readyz, /metrics)")
	fs.StringVar(&o.notifierAdminAddr, "notifier-admin", ":9091", "notifier admin listener")
	fs.BoolVar(&o.printEvents, "events", false, "also print every event auth-api publishes (subject, uid, verify_url)")
	fs.BoolVar(&o.noNotifier, "no-notifier", false, "run auth-api only; print each event's verify_url instead of mailing it")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 25*time.Second, "how long children may take to stop after SIGTERM")
	err := fs.Parse(args[1:])
	return o, err
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	opts, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	out := &console{w: stdout}
	root, err := stack.FindRoot()
	if err != nil {
		return err
	}
	for _, a := range []string{opts.httpAddr, opts.adminAddr, opts.notifierAdminAddr} {
		if err := portFree(a); err != nil {
			return err
		}
	}

	// PostgreSQL: DATABASE_URL, or the local server with database kairos.
	dbURL, err := ensureDatabase(ctx, getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	out.line("devstack", "migrating "+pgtest.Redact(dbURL))
	if err := migrations.UpURL(ctx, dbURL); err != nil {
		return fmt.Errorf("migrate %s: %w", pgtest.Redact(dbURL), err)
	}

	// NATS: NATS_URL, or JetStream in this process with its store in .cache.
	natsURL, natsNote := getenv("NATS_URL"), ""
	if natsURL == "" {
		dir := filepath.Join(root, ".cache", "devstack", "nats")
		n, err := stack.StartNATS(dir)
		if err != nil {
			return fmt.Errorf("in-process NATS: %w", err)
		}
		defer n.Stop()
		natsURL, natsNote = n.URL(), "   (in-process JetStream, store "+dir+")"
	}

	// Build both services; the notifier is optional (auth-api alone still
	// runs the walk, with links printed from the events instead of mails).
	stamp := gobuild.ReadStamp(ctx, root)
	out.line("devstack", fmt.Sprintf("building bin/auth-api and bin/notifier (%s, commit %s); the first run compiles every dependency and takes a few minutes, later runs seconds", stamp.Version, stamp.Commit))
	if err := build(ctx, root, "auth-api", stamp, out); err != nil {
		return err
	}
	withNotifier := !opts.noNotifier
	if withNotifier {
		if err := build(ctx, root, "notifier", stamp, out); err != nil {
			out.line("devstack", fmt.Sprintf("notifier does not build; running without it and printing each event's verify_url instead:\n%v", err))
			withNotifier = false
		}
	}

	// The mail catcher prints every mail; the fake Agent prints every call.
	mail, err := smtptest.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer mail.Close()
	mail.OnMessage(func(m smtptest.Message) { out.block(formatMail(m)) })
	agentToken := randomToken()
	agent := agenttest.Start(agentToken)
	defer agent.Close()

	// Events: printed on request, and always when no notifier mails them.
	evp := &eventPrinter{natsURL: natsURL, out: out}
	defer evp.stop()
	if opts.printEvents || !withNotifier {
		if err := evp.start(ctx); err != nil {
			return err
		}
	}

	// The services, as child processes with their output prefixed.
	passthrough := inheritedEnv(getenv)
	auth := &child{name: "auth-api", bin: filepath.Join(root, "bin", "auth-api"), out: out,
		adminAddr: opts.adminAddr, env: append(slices.Clip(passthrough),
			"DATABASE_URL="+dbURL,
			"NATS_URL="+natsURL,
			"HTTP_ADDR="+opts.httpAddr,
			"ADMIN_ADDR="+opts.adminAddr,
			"PUBLIC_URL="+localURL(opts.httpAddr),
			"LOG_FORMAT=text",
			"LOG_LEVEL=info",
		)}
	children := []*child{auth}
	var notifier *child
	if withNotifier {
		notifier = &child{name: "notifier", bin: filepath.Join(root, "bin", "notifier"), out: out,
			adminAddr: opts.notifierAdminAddr, env: append(slices.Clip(passthrough),
				"NATS_URL="+natsURL,
				"ADMIN_ADDR="+opts.notifierAdminAddr,
				"SMTP_ADDR="+mail.Addr(),
				"SMTP_TLS=none",
				"AGENT_BASE_URL="+agent.URL,
				"AGENT_SERVICE_TOKEN="+agentToken,
				"LOG_FORMAT=text",
				"LOG_LEVEL=info",
			)}
		children = append(children, notifier)
	}
	defer func() {
		out.line("devstack", "stopping")
		stopAll(children, opts.stopTimeout, out)
		out.line("devstack", "stopped")
	}()
	for _, c := range children {
		if err := c.start(); err != nil {
			return err
		}
	}
	if err := auth.waitReady(ctx, time.Minute); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("auth-api did not become ready: %w", err)
	}
	if notifier != nil {
		if err := notifier.waitReady(ctx, time.Minute); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			out.line("devstack", fmt.Sprintf("notifier is not ready (%v); printing each event's verify_url instead", err))
			if err := evp.start(ctx); err != nil {
				return err
			}
			notifier = nil
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wctx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	wg.Go(func() { watchAgent(wctx, agent, out) })
	if notifier != nil {
		// A notifier that dies later leaves the links to the events.
		wg.Go(func() {
			select {
			case <-wctx.Done():
			case <-notifier.done:
				if wctx.Err() == nil {
					out.line("devstack", fmt.Sprintf("notifier exited (%v); printing each event's verify_url instead", notifier.exitErr()))
					if err := evp.start(wctx); err != nil {
						out.line("devstack", err.Error())
					}
				}
			}
		})
	}

	notifierAdmin := ""
	if notifier != nil {
		notifierAdmin = localURL(opts.notifierAdminAddr)
	}
	out.block(banner(bannerInfo{
		api: localURL(opts.httpAddr), authAdmin: localURL(opts.adminAddr), notifierAdmin: notifierAdmin,
		database: pgtest.Redact(dbURL), nats: natsURL, natsNote: natsNote, smtp: mail.Addr(), agent: agent.URL,
	}))

	// Run until Ctrl-C, or until auth-api dies (then there is nothing to use).
	select {
	case <-ctx.Done():
		return nil
	case <-auth.done:
		return fmt.Errorf("auth-api exited: %v", auth.exitErr())
	}
}

// eventPrinter starts printEvents at most once.
type eventPrinter struct {
	natsURL string
	out     *console
	mu      sync.Mutex
	close   func()
}

func (p *eventPrinter) start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.close != nil {
		return nil
	}
	c, err := printEvents(ctx, p.natsURL, p.out)
	if err != nil {
		return err
	}
	p.close = c
	return nil
}

func (p *eventPrinter) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.close != nil {
		p.close()
		p.close = nil
	}
}

func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is taken (%v): stop what listens there (an earlier make dev?) or move it, e.g. cd tools && go run ./devstack -http :8081 -admin :9190 -notifier-admin :9191", addr, err)
	}
	return ln.Close()
}

// localURL turns a listen address into the URL a browser on this machine uses.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// passthroughEnv is what the children inherit from the caller: what a
// process needs to run, and the OpenTelemetry settings, so that
// `OTEL_TRACES_EXPORTER=console make dev` or a collector endpoint just works.
// Nothing else leaks in (a DATABASE_URL meant for devstack is passed on
// explicitly; a stray HTTP_ADDR in the shell is not).
var passthroughEnv = []string{
	"PATH", "HOME", "TMPDIR", "TZ", "GOMAXPROCS", "GOMEMLIMIT", "GODEBUG",
	"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_INSECURE",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED",
}

func inheritedEnv(getenv func(string) string) []string {
	var env []string
	for _, k := range passthroughEnv {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
