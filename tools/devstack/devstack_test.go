package main

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/kairos-platform/identity/pkg/smtptest"
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
	_, err := ensureDatabase(context.Background(), "postgres://kairos:s3cret@127.0.0.1:1/kairos?sslmode=disable")
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v; want one naming DATABASE_URL without the password", err)
	}
}

func TestInheritedEnvPassesOnlyKnownVariables(t *testing.T) {
	env := map[string]string{"PATH": "/bin", "OTEL_TRACES_EXPORTER": "console", "DATABASE_URL": "postgres://x", "HTTP_ADDR": ":1"}
	got := strings.Join(inheritedEnv(func(k string) string { return env[k] }), " ")
	if got != "PATH=/bin OTEL_TRACES_EXPORTER=console" {
		t.Fatalf("inherited = %q", got)
	}
}
