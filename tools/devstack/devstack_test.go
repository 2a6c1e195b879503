package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/smtptest"
	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

func TestLineWriterPrefixesWholeLines(t *testing.T) {
	var buf bytes.Buffer
	c := &console{w: &buf}
	w := c.prefixed("auth-api")
	for _, chunk := range []string{"first li", "ne\nsecond line\nthi", "rd"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	want := "auth-api | first line\nauth-api | second line\nauth-api | third\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestConsoleNeverInterleavesLines(t *testing.T) {
	var buf bytes.Buffer
	c := &console{w: &buf}
	var wg sync.WaitGroup
	for i := range 4 {
		w := c.prefixed(fmt.Sprintf("svc%d", i))
		wg.Go(func() {
			for range 200 {
				_, _ = w.Write([]byte("aaaa"))
				_, _ = w.Write([]byte("bbbb\n"))
			}
		})
	}
	wg.Wait()
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !strings.HasSuffix(l, "| aaaabbbb") {
			t.Fatalf("mixed line %q", l)
		}
	}
}

func TestFormatMailShowsTheLink(t *testing.T) {
	m := smtptest.Message{
		To:      []string{"ada@example.com"},
		Subject: "Confirm your email address",
		Header:  mail.Header{"From": {"Kairos <no-reply@localhost>"}},
		Text:    "Hello ada,\r\n\r\nhttp://localhost:8080/api/verify/abc/\r\n",
	}
	got := formatMail(m)
	for _, want := range []string{"To:      ada@example.com", "Subject: Confirm your email address", "│ http://localhost:8080/api/verify/abc/\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("mail output lacks %q:\n%s", want, got)
		}
	}
}

func TestLocalURL(t *testing.T) {
	tests := []struct{ addr, want string }{
		{":8080", "http://localhost:8080"},
		{"0.0.0.0:9090", "http://localhost:9090"},
		{"127.0.0.1:9091", "http://127.0.0.1:9091"},
		{"[::]:8080", "http://localhost:8080"},
	}
	for _, tt := range tests {
		if got := localURL(tt.addr); got != tt.want {
			t.Errorf("localURL(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestEnsureDatabaseNamesTheProblem(t *testing.T) {
	// Nothing listens on port 1; the password must not be printed.
	_, _, err := ensureDatabase(context.Background(), "postgres://kairos:s3cret@127.0.0.1:1/kairos?sslmode=disable", localServer, t.TempDir(), &console{w: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v; want one naming DATABASE_URL without the password", err)
	}
}

func TestChildEnvPassesTheServiceSettings(t *testing.T) {
	caller := map[string]string{
		"PATH": "/bin", "OTEL_TRACES_EXPORTER": "console", "LOG_LEVEL": "debug", "ARGON2_TIME": "3",
		"HTTP_ADDR": ":1", "SMTP_ADDR": "mail:25", "DATABASE_URL": "postgres://elsewhere", "EDITOR": "vi",
	}
	env, passed, ignored := childEnv(func(k string) string { return caller[k] },
		[]string{"PUBLIC_URL=http://127.0.0.1:8080"}, []string{"HTTP_ADDR=127.0.0.1:8080", "DATABASE_URL=postgres://dev"})
	got := map[string]string{}
	for _, kv := range env { // later entries win, as in exec
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{
		"PATH": "/bin", "OTEL_TRACES_EXPORTER": "console", "LOG_LEVEL": "debug", "LOG_FORMAT": "text", "ARGON2_TIME": "3",
		"PUBLIC_URL": "http://127.0.0.1:8080", "HTTP_ADDR": "127.0.0.1:8080", "DATABASE_URL": "postgres://dev",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("child env\n got %v\nwant %v", got, want)
	}
	if strings.Join(passed, ",") != "ARGON2_TIME,LOG_LEVEL" {
		t.Errorf("passed = %v", passed)
	}
	note := envNote(passed, ignored)
	for _, w := range []string{"LOG_LEVEL", "HTTP_ADDR (use DEVFLAGS='-http ADDR')", "SMTP_ADDR"} {
		if !strings.Contains(note, w) {
			t.Errorf("note lacks %q:\n%s", w, note)
		}
	}
}

// Every setting of the README's configuration tables either passes through
// or is wired by devstack (and said to be ignored): none is silently dropped.
func TestEveryDocumentedSettingIsHandled(t *testing.T) {
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)[strings.Index(string(readme), "## Configuration"):]
	section = section[:strings.Index(section, "### Tracing")]
	handled := map[string]bool{"DATABASE_URL": true, "NATS_URL": true, "OTEL_*": true}
	for _, k := range slices.Concat(serviceEnv, sortedKeys(wiredEnv)) {
		handled[k] = true
	}
	found := 0
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z0-9_*]+)` \\|").FindAllStringSubmatch(section, -1) {
		found++
		if !handled[m[1]] {
			t.Errorf("%s is documented but make dev neither passes it through nor wires it (tools/devstack/env.go)", m[1])
		}
	}
	if found < 20 {
		t.Fatalf("found only %d settings in the README's Configuration section", found)
	}
}

func TestHelpExitsCleanly(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"devstack", "-h"}, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("devstack -h: %v", err)
	}
	for _, w := range []string{"DEVFLAGS", "-notifier-admin", "LOG_LEVEL=debug make dev"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("usage lacks %q:\n%s", w, out.String())
		}
	}
}

func TestListensOnLoopbackByDefault(t *testing.T) {
	o, err := parseFlags([]string{"devstack"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{o.httpAddr, o.adminAddr, o.notifierAdminAddr} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("default listener %s is not loopback", a)
		}
	}
}

func TestTakenPortNamesTheDevflag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = portFree("notifier-admin", ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "DEVFLAGS='-notifier-admin 127.0.0.1:") {
		t.Fatalf("err = %v; want the DEVFLAGS option that moves it", err)
	}
}

func TestNotReadyNotifierSaysWhy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":"not ready","reason":"nats: server 2.9.10 is older than 2.10"}`)
	}))
	defer srv.Close()
	c := &child{name: "notifier", adminAddr: strings.TrimPrefix(srv.URL, "http://"), done: make(chan struct{})}
	ready, reason := c.waitReadyFor(context.Background(), 300*time.Millisecond)
	if ready || reason != "nats: server 2.9.10 is older than 2.10" {
		t.Fatalf("ready %v, reason %q", ready, reason)
	}
}

// While the notifier is not ready the events carry the links; once it is
// ready they are left to the mails.
func TestEventsPrintedOnlyWhileNoNotifierMails(t *testing.T) {
	n, err := natstest.Listen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	var buf testkit.LogBuffer
	var mailing atomic.Bool
	// seen counts the events the printer has looked at, so the test waits
	// for each one before changing the notifier's state.
	var seen atomic.Int64
	show := func() bool { defer seen.Add(1); return !mailing.Load() }
	stop, err := printEvents(context.Background(), n.URL(), &console{w: &buf}, show)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	publish := func(url string) {
		t.Helper()
		ev := events.Event{ID: url, Type: events.UserCreated, Version: events.Version, VerifyURL: url}
		ev.User.UID, ev.User.Email = "u1", "ada@example.com"
		b, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(ev.Subject(), b); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// The printer connects in the background: core NATS keeps nothing for a
	// subscriber that is not there yet, so probe until it hears.
	testkit.Eventually(t, "the printer subscribed", func() bool {
		publish("http://x/probe")
		return seen.Load() > 0
	})
	// Probes still in flight arrive before this one (one publisher, one
	// subscriber: in order), so from here on seen counts only the steps.
	publish("http://x/in-step")
	testkit.Eventually(t, "the probes drained", func() bool { return strings.Contains(buf.String(), "in-step") })
	for _, step := range []struct {
		url     string
		mailing bool
	}{{"http://x/while-not-ready", false}, {"http://x/while-mailing", true}, {"http://x/after-it-exited", false}} {
		mailing.Store(step.mailing)
		before := seen.Load()
		publish(step.url)
		testkit.Eventually(t, step.url+" looked at", func() bool { return seen.Load() > before })
	}
	// seen moves before the print: the last step's line may still be on its way.
	testkit.Eventually(t, "the last event printed", func() bool { return strings.Contains(buf.String(), "after-it-exited") })
	got := buf.String()
	if !strings.Contains(got, "while-not-ready") || strings.Contains(got, "while-mailing") {
		t.Fatalf("printed:\n%s", got)
	}
}

// With nothing on the local server's port but PostgreSQL installed (as on
// this machine), make dev starts a private server instead of stopping, and
// its data survives to the next run. The probe points at an unused port, so
// the machine's own server is left alone.
func TestPrivateServerWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unused := ln.Addr().String()
	ln.Close()
	serverURL := "postgres://postgres@" + unused + "/postgres?sslmode=disable"
	dir := filepath.Join(t.TempDir(), "pg")
	var buf testkit.LogBuffer
	ctx := context.Background()

	dbURL, pg, err := ensureDatabase(ctx, "", serverURL, dir, &console{w: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if pg == nil {
		t.Fatal("no private server started")
	}
	if !strings.Contains(buf.String(), "starting a private server with its data in "+dir) {
		t.Errorf("devstack did not say what it does:\n%s", buf.String())
	}
	conn, err := connect(ctx, dbURL)
	if err != nil {
		pg.Close()
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "CREATE TABLE kept (id int)")
	conn.Close(ctx)
	pg.Close()
	if err != nil {
		t.Fatal(err)
	}

	dbURL, pg, err = ensureDatabase(ctx, "", serverURL, dir, &console{w: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	conn, err = connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT * FROM kept"); err != nil {
		t.Fatalf("the second run lost the first run's data: %v", err)
	}
}
