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
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/natsx"
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
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: make dev [DEVFLAGS='-flag value ...']   (or: bin/devstack [flags])

Runs auth-api and notifier on this machine with PostgreSQL (DATABASE_URL, the
local server, or a private one), NATS (NATS_URL or in-process JetStream), a
mail catcher and a fake Agent. The services' settings (README, Configuration)
pass through from the environment, e.g. LOG_LEVEL=debug make dev.

`)
		fs.PrintDefaults()
	}
	// Loopback by default: the admin ports serve pprof, and a development
	// API has no business on the network.
	fs.StringVar(&o.httpAddr, "http", "127.0.0.1:8080", "auth-api public listener")
	fs.StringVar(&o.adminAddr, "admin", "127.0.0.1:9090", "auth-api admin listener (/healthz, /readyz, /metrics, /debug/pprof/)")
	fs.StringVar(&o.notifierAdminAddr, "notifier-admin", "127.0.0.1:9091", "notifier admin listener")
	fs.BoolVar(&o.printEvents, "events", false, "also print every event auth-api publishes (subject, uid, verify_url)")
	fs.BoolVar(&o.noNotifier, "no-notifier", false, "run auth-api only; print each event's verify_url instead of mailing it")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 25*time.Second, "how long children may take to stop after SIGTERM")
	err := fs.Parse(args[1:])
	return o, err
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	opts, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	out := &console{w: stdout}
	root, err := stack.FindRoot()
	if err != nil {
		return err
	}
	for _, p := range []struct{ flag, addr string }{{"http", opts.httpAddr}, {"admin", opts.adminAddr}, {"notifier-admin", opts.notifierAdminAddr}} {
		if err := portFree(p.flag, p.addr); err != nil {
			return err
		}
	}

	// PostgreSQL: DATABASE_URL, or the local server with database kairos, or
	// a private server when the local one is installed but not running.
	dbURL, privatePG, err := ensureDatabase(ctx, getenv("DATABASE_URL"), localServer, filepath.Join(root, ".cache", "devstack", "pg"), out)
	if err != nil {
		return err
	}
	if privatePG != nil {
		defer privatePG.Close()
	}
	out.line("devstack", "migrating "+pgtest.Redact(dbURL))
	if err := migrations.UpURL(ctx, dbURL); err != nil {
		return fmt.Errorf("migrate %s: %w", pgtest.Redact(dbURL), err)
	}

	// NATS: NATS_URL, or JetStream in this process with its store in .cache.
	natsURL, natsNote := getenv("NATS_URL"), ""
	if natsURL == "" {
		dir := filepath.Join(root, ".cache", "devstack", "nats")
		n, err := natstest.Listen(dir)
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

	// Events: subscribed before any service starts, so no signup's link is
	// missed; printed on request, and whenever no ready notifier mails them.
	var mailing atomic.Bool
	stopEvents, err := printEvents(ctx, natsURL, out, func() bool { return opts.printEvents || !mailing.Load() })
	if err != nil {
		return err
	}
	defer stopEvents()

	// The services, as child processes with their output prefixed. Their
	// settings pass through from the environment; devstack wires the rest.
	keyDir, err := os.MkdirTemp("", "kairos-devstack-keys-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(keyDir)
	deviceKeys, err := stack.WriteDeviceKeyFile(keyDir)
	if err != nil {
		return err
	}
	// A throwaway signing key, kept in .cache so that tokens survive a
	// restart; JWT_SIGNING_KEYS_FILE from the environment wins.
	keyFile := filepath.Join(root, ".cache", "devstack", "jwt-signing-keys.pem")
	if err := stack.SigningKey(keyFile); err != nil {
		return fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	authEnv, passed, ignored := childEnv(getenv,
		[]string{"PUBLIC_URL=" + localURL(opts.httpAddr), "DEVICE_COOKIE_KEY_FILE=" + deviceKeys, "JWT_SIGNING_KEYS_FILE=" + keyFile},
		[]string{"DATABASE_URL=" + dbURL, "NATS_URL=" + natsURL, "HTTP_ADDR=" + opts.httpAddr, "ADMIN_ADDR=" + opts.adminAddr})
	if note := envNote(passed, ignored); note != "" {
		out.line("devstack", note)
	}
	auth := &child{name: "auth-api", bin: filepath.Join(root, "bin", "auth-api"), out: out, adminAddr: opts.adminAddr, env: authEnv}
	children := []*child{auth}
	var notifier *child
	if withNotifier {
		env, _, _ := childEnv(getenv, nil, []string{
			"NATS_URL=" + natsURL,
			"ADMIN_ADDR=" + opts.notifierAdminAddr,
			"SMTP_ADDR=" + mail.Addr(),
			"SMTP_TLS=none",
			"AGENT_BASE_URL=" + agent.URL,
			"AGENT_SERVICE_TOKEN=" + agentToken,
		})
		notifier = &child{name: "notifier", bin: filepath.Join(root, "bin", "notifier"), out: out, adminAddr: opts.notifierAdminAddr, env: env}
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
	notifierState := "not running: verification links are printed from the events"
	if notifier != nil {
		// Give it a moment to connect; past that the banner says why not.
		ready, reason := notifier.waitReadyFor(ctx, 15*time.Second)
		mailing.Store(ready)
		notifierState = ""
		if !ready && notifier.exited() {
			notifierState = "not running: it " + reason + "; verification links are printed from the events"
		} else if !ready {
			notifierState = "running, not ready: " + reason + "\n" + strings.Repeat(" ", 19) + "links are printed from the events until it is"
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wctx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	wg.Go(func() { watchAgent(wctx, agent, out) })
	if notifier != nil {
		wg.Go(func() { watchNotifier(wctx, notifier, &mailing, out) })
	}

	out.block(banner(bannerInfo{
		api: localURL(opts.httpAddr), authAdmin: localURL(opts.adminAddr),
		notifierAdmin: localURL(opts.notifierAdminAddr), notifierState: notifierState, mailing: mailing.Load(),
		database: pgtest.Redact(dbURL), nats: natsx.Redact(natsURL), natsNote: natsNote, smtp: mail.Addr(), agent: agent.URL,
	}))

	// Run until Ctrl-C, or until auth-api dies (then there is nothing to use).
	select {
	case <-ctx.Done():
		return nil
	case <-auth.done:
		return fmt.Errorf("auth-api exited: %v", auth.exitErr())
	}
}

// watchNotifier follows the notifier's readiness and says when it changes,
// with the reason its /readyz gives: while it is not ready (or gone) the
// links come from the events instead of the mails.
func watchNotifier(ctx context.Context, n *child, mailing *atomic.Bool, out *console) {
	lastReason := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.done:
			if ctx.Err() == nil {
				mailing.Store(false)
				out.line("devstack", fmt.Sprintf("notifier exited (%v); printing each event's verify_url instead", n.exitErr()))
			}
			return
		case <-time.After(time.Second):
		}
		ready, reason := n.readiness(ctx)
		switch {
		case ready && !mailing.Load():
			mailing.Store(true)
			lastReason = ""
			out.line("devstack", "notifier is ready: verification links now arrive by mail")
		case !ready && (mailing.Load() || reason != lastReason):
			mailing.Store(false)
			lastReason = reason
			out.line("devstack", "notifier is not ready ("+reason+"); printing each event's verify_url meanwhile")
		}
	}
}

// portFree says which DEVFLAGS option moves a taken port.
func portFree(flagName, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is taken (%v): stop what listens there (an earlier make dev?) or move it: make dev DEVFLAGS='-%s %s'",
			addr, err, flagName, nextPort(addr))
	}
	return ln.Close()
}

// nextPort suggests the same host with the port plus 100.
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 0 {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(n+100))
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

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
