package smtp_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/smtptest"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
	"github.com/kairos-platform/identity/services/notifier/internal/smtp"
)

func email(to string) notify.Email {
	return notify.Email{
		Template: "verification",
		From:     notify.Address{Name: "Kairos", Email: "no-reply@kairos.example"},
		To:       notify.Address{Name: "John", Email: to},
		Subject:  "Verify", Text: "text body", HTML: "<p>html body</p>", MessageID: "event.1@kairos.example",
	}
}

func start(t *testing.T) (*smtptest.Server, *smtp.Mailer) {
	t.Helper()
	srv, err := smtptest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	host, p, _ := net.SplitHostPort(srv.Addr())
	port, _ := strconv.Atoi(p)
	m, err := smtp.New(smtp.Config{Host: host, Port: port, TLS: smtp.TLSNone, Timeout: 300 * time.Millisecond, PoolSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return srv, m
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name          string
		mode          smtptest.Mode
		wantErr       bool
		wantPermanent bool
	}{
		{"accepted", smtptest.Accept, false, false},
		{"4xx is temporary", smtptest.RefuseTemporary, true, false},
		{"5xx is permanent", smtptest.RefusePermanent, true, true},
		{"hang times out, temporary", smtptest.Hang, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, m := start(t)
			srv.SetMode(tt.mode)
			err := m.Send(context.Background(), email("john@example.com"))
			if (err != nil) != tt.wantErr || errors.Is(err, notify.ErrPermanent) != tt.wantPermanent {
				t.Fatalf("err = %v; want error %v, permanent %v", err, tt.wantErr, tt.wantPermanent)
			}
			// The mailer recovers once the server does.
			srv.SetMode(smtptest.Accept)
			if err := m.Send(context.Background(), email("jane@example.com")); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
		})
	}
}

func TestMultipartAndHeaders(t *testing.T) {
	srv, m := start(t)
	if err := m.Send(context.Background(), email("john@example.com")); err != nil {
		t.Fatal(err)
	}
	msg := srv.Messages()[0]
	if msg.MessageID != "<event.1@kairos.example>" || msg.Text != "text body" || msg.HTML != "<p>html body</p>" ||
		!strings.HasPrefix(msg.Header.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("message:\n%s", msg.Raw)
	}
	bad := email("john@example.com")
	bad.Subject = "hi\r\nBcc: x@example.com"
	if err := m.Send(context.Background(), bad); !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("subject with CRLF: %v", err)
	}
	bad = email("john@example.com\r\nBcc: x@example.com")
	if err := m.Send(context.Background(), bad); !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("address with CRLF: %v", err)
	}
	if len(srv.Messages()) != 1 {
		t.Errorf("%d messages accepted", len(srv.Messages()))
	}
}

// Many concurrent sends share a few connections and all arrive; the
// connection left idle after the server restarts is replaced.
func TestConcurrentSendsAndStaleConnections(t *testing.T) {
	srv, m := start(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() { errs <- m.Send(context.Background(), email("john@example.com")) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(srv.Messages()); got != 50 {
		t.Fatalf("%d messages, want 50", got)
	}
	// Restart the server on the same address: pooled connections are dead.
	addr := srv.Addr()
	_ = srv.Close()
	srv2, err := smtptest.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if err := m.Send(context.Background(), email("john@example.com")); err != nil {
		t.Fatalf("after server restart: %v", err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		cfg  smtp.Config
		want string
	}{
		{smtp.Config{Host: "", Port: 25, TLS: smtp.TLSNone}, "smtp: "},
		{smtp.Config{Host: "mail", Port: 25, TLS: "ssl"}, `smtp: unknown TLS mode "ssl"`},
	}
	for _, tt := range tests {
		if _, err := smtp.New(tt.cfg); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error starting %q", tt.cfg, err, tt.want)
		}
	}
}
