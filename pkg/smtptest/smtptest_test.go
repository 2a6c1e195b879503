package smtptest_test

import (
	"context"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/smtptest"
)

const mail = "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?utf-8?q?Hello_w=C3=B6rld?=\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n" +
	"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nlink: https://x/api/verify/a=3Db/\r\n" +
	"--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<a href=\"https://x\">x</a>\r\n--XX--\r\n"

func TestModes(t *testing.T) {
	s, err := smtptest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	send := func() error {
		return smtp.SendMail(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(mail))
	}

	if err := send(); err != nil {
		t.Fatalf("accept: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := s.WaitFor(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.Subject != "Hello wörld" || !strings.Contains(m.Text, "/api/verify/a=b/") || !strings.Contains(m.HTML, "<a href") {
		t.Fatalf("parsed message = subject %q text %q html %q", m.Subject, m.Text, m.HTML)
	}

	s.SetMode(smtptest.RefuseTemporary)
	if err := send(); err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("refuse temporary: err = %v, want 451", err)
	}
	s.SetMode(smtptest.RefusePermanent)
	if err := send(); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("refuse permanent: err = %v, want 550", err)
	}

	s.SetMode(smtptest.Hang)
	done := make(chan error, 1)
	go func() { done <- send() }()
	for s.Attempts() < 4 { // the hanging MAIL FROM has arrived
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("hang: send returned %v while hanging", err)
	default:
	}
	s.SetMode(smtptest.Accept)
	if err := <-done; err != nil {
		t.Fatalf("after hang released: %v", err)
	}
	if got := len(s.Messages()); got != 2 {
		t.Fatalf("messages = %d, want 2", got)
	}
}

// Messages are decoded when read, not when received; counting and waiting
// for a count decode nothing, and a callback still gets decoded messages.
func TestDecodedWhenRead(t *testing.T) {
	tests := []struct {
		name     string
		callback bool
	}{
		{"read afterwards", false},
		{"with a callback", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := smtptest.Start("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := make(chan smtptest.Message, 3)
			if tt.callback {
				s.OnMessage(func(m smtptest.Message) { got <- m })
			}
			for range 3 {
				if err := smtp.SendMail(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(mail)); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.WaitForCount(ctx, 3); err != nil || s.Count() != 3 {
				t.Fatalf("WaitForCount: %v, Count %d", err, s.Count())
			}
			msgs := s.Messages()
			if tt.callback {
				msgs = []smtptest.Message{<-got, <-got, <-got}
			}
			for i, m := range msgs {
				if m.Subject != "Hello wörld" || !strings.Contains(m.Text, "/api/verify/a=b/") || m.ReceivedAt.IsZero() {
					t.Fatalf("message %d: subject %q text %q received %v", i, m.Subject, m.Text, m.ReceivedAt)
				}
			}
		})
	}
}
