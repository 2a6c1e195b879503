package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
)

type fakeMailer struct{ sent []notify.Email }

func (f *fakeMailer) Send(_ context.Context, e notify.Email) error {
	f.sent = append(f.sent, e)
	return nil
}

func newEmailer(t *testing.T, m notify.Mailer) *notify.Emailer {
	t.Helper()
	h, err := notify.NewEmailer(notify.EmailConfig{
		From:                   notify.Address{Name: "Kairos", Email: "no-reply@kairos.example"},
		SubjectVerification:    "Verify",
		SubjectDuplicateSignup: "Duplicate",
		SubjectLoginAttack:     "Attack",
	}, m, noop.NewTracerProvider(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRender(t *testing.T) {
	exp := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	base := events.Event{ID: "0b0c-1", Version: 1, User: events.User{UID: "u1", Username: "John <b>", Email: "john@example.com"},
		VerifyURL: "https://id.example/api/verify/abc/", VerifyExpiresAt: &exp}
	tests := []struct {
		name, typ, template, subject string
		text, html                   []string
		notText                      []string
	}{
		{"created", events.UserCreated, "verification", "Verify",
			[]string{"https://id.example/api/verify/abc/", "26 November 2026 at 20:00 UTC", "John <b>"},
			[]string{`href="https://id.example/api/verify/abc/"`, "John &lt;b&gt;", "26 November 2026"}, nil},
		{"resend", events.VerificationRequested, "verification", "Verify",
			[]string{"https://id.example/api/verify/abc/"}, []string{"Confirm my email address"}, nil},
		{"duplicate", events.SignupDuplicate, "duplicate_signup", "Duplicate",
			[]string{"already have an account", "reset your password"}, []string{"already have an account"},
			[]string{"/api/verify/"}},
		{"login attack", events.LoginAttackSuspected, "login_attack", "Attack",
			[]string{"many failed attempts", "If it wasn't you, nothing is needed", "Your known devices still work", "John <b>"},
			[]string{"Your known devices still work", "John &lt;b&gt;"}, []string{"/api/verify/"}},
	}
	h := newEmailer(t, &fakeMailer{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			e.Type = tt.typ
			if tt.typ == events.SignupDuplicate || tt.typ == events.LoginAttackSuspected {
				e.VerifyURL, e.VerifyExpiresAt = "", nil
			}
			m, err := h.Render(e)
			if err != nil {
				t.Fatal(err)
			}
			if m.Template != tt.template || m.Subject != tt.subject || m.MessageID != "event.0b0c-1@kairos.example" {
				t.Errorf("got template %q subject %q id %q", m.Template, m.Subject, m.MessageID)
			}
			for _, s := range tt.text {
				if !strings.Contains(m.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, m.Text)
				}
			}
			for _, s := range tt.html {
				if !strings.Contains(m.HTML, s) {
					t.Errorf("html lacks %q:\n%s", s, m.HTML)
				}
			}
			for _, s := range tt.notText {
				if strings.Contains(m.Text, s) {
					t.Errorf("text has %q", s)
				}
			}
		})
	}
}

func TestRecipientChecks(t *testing.T) {
	tests := []struct {
		name, username, email string
		wantErr               bool
		wantName              string
	}{
		{"plain", "John", "john@example.com", false, "John"},
		{"crlf in name", "Eve\r\nBcc: x@y.z", "eve@example.com", false, "Eve Bcc: x@y.z"},
		{"unicode line separator", "Eve\u2028Bcc: x@y.z", "eve@example.com", false, "Eve Bcc: x@y.z"},
		{"crlf in address", "Eve", "eve@example.com\r\nBcc: x@y.z", true, ""},
		{"display name in address", "Eve", "Eve <eve@example.com>", true, ""},
		{"two addresses", "Eve", "a@example.com, b@example.com", true, ""},
		{"not an address", "Eve", "eve", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &fakeMailer{}
			h := newEmailer(t, m)
			err := h.Handle(context.Background(), events.Event{ID: "e1", Type: events.UserCreated, Version: 1,
				User: events.User{UID: "u", Username: tt.username, Email: tt.email}, VerifyURL: "http://x/api/verify/t/"})
			if tt.wantErr {
				if !errors.Is(err, notify.ErrPermanent) || len(m.sent) != 0 {
					t.Fatalf("err %v, sent %d; want a permanent error and nothing sent", err, len(m.sent))
				}
				return
			}
			if err != nil || len(m.sent) != 1 {
				t.Fatalf("err %v, sent %d", err, len(m.sent))
			}
			if got := m.sent[0].To.Name; got != tt.wantName || notify.HasControl(got) {
				t.Errorf("name %q, want %q", got, tt.wantName)
			}
		})
	}
}

func TestMessageID(t *testing.T) {
	tests := []struct{ id, from, want string }{
		{"550e8400-e29b-41d4-a716-446655440000", "no-reply@kairos.example", "event.550e8400-e29b-41d4-a716-446655440000@kairos.example"},
		{"a>b\r\nX: y", "x@d.example", "event.abXy@d.example"},
		{"id", "nodomain", "event.id@localhost"},
	}
	for _, tt := range tests {
		if got := notify.MessageID(tt.id, tt.from); got != tt.want {
			t.Errorf("MessageID(%q, %q) = %q, want %q", tt.id, tt.from, got, tt.want)
		}
	}
}

type fakeAgent struct {
	users []events.User
	calls []string
	err   error
}

func (f *fakeAgent) CreateUser(_ context.Context, u events.User) error {
	f.users = append(f.users, u)
	f.calls = append(f.calls, "create "+u.UID)
	return f.err
}

func (f *fakeAgent) UpdateUser(_ context.Context, u events.User) error {
	f.calls = append(f.calls, "update "+u.UID+" "+u.Email)
	return f.err
}

func (f *fakeAgent) DeleteUser(_ context.Context, uid string) error {
	f.calls = append(f.calls, "delete "+uid)
	return f.err
}

func TestSyncerEvents(t *testing.T) {
	u := events.User{UID: "u1", Username: "n", Email: "e@example.com"}
	for _, tt := range []struct {
		name   string
		synced []string
		want   []string
	}{
		{"all", notify.AgentSubjects, []string{"create u1", "update u1 e@example.com", "delete u1"}},
		{"created only", []string{events.UserCreated}, []string{"create u1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &fakeAgent{}
			s, err := notify.NewSyncer(a, tt.synced, noop.NewTracerProvider(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range events.Types {
				if err := s.Handle(context.Background(), events.Event{Type: typ, User: u}); err != nil {
					t.Fatal(err)
				}
			}
			if strings.Join(a.calls, ",") != strings.Join(tt.want, ",") {
				t.Errorf("Agent calls %v, want %v", a.calls, tt.want)
			}
		})
	}
}

func TestSyncer(t *testing.T) {
	a := &fakeAgent{}
	s, err := notify.NewSyncer(a, []string{events.UserCreated}, noop.NewTracerProvider(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	u := events.User{UID: "u1", Username: "n", Email: "e@example.com"}
	for _, typ := range events.Types {
		if err := s.Handle(context.Background(), events.Event{Type: typ, User: u}); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.users) != 1 || a.users[0] != u {
		t.Errorf("Agent got %v, want only the user.created user", a.users)
	}
	a.err = notify.Permanent(errors.New("400"))
	if err := s.Handle(context.Background(), events.Event{Type: events.UserCreated, User: u}); !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("error %v lost its permanence", err)
	}
}

// FuzzRender: whatever the event carries, a rendered email's header fields
// hold no control character, or the event is refused as permanent.
func FuzzRender(f *testing.F) {
	f.Add("John", "john@example.com", "0b0c-1")
	f.Add("Eve\r\nBcc: x@y.z", "eve@example.com", "id\r\n")
	f.Add("Eve", "eve@example.com\nBcc: x@y.z", "1")
	f.Add("\u2028", "\"a\r\nb\"@example.com", "")
	h, err := notify.NewEmailer(notify.EmailConfig{From: notify.Address{Email: "no-reply@kairos.example"}},
		&fakeMailer{}, noop.NewTracerProvider(), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, username, email, id string) {
		m, err := h.Render(events.Event{ID: id, Type: events.UserCreated, Version: 1,
			User: events.User{UID: "u", Username: username, Email: email}, VerifyURL: "http://x/api/verify/t/"})
		if err != nil {
			if !errors.Is(err, notify.ErrPermanent) {
				t.Fatalf("non-permanent error %v", err)
			}
			return
		}
		for _, v := range []string{m.To.Name, m.To.Email, m.MessageID, m.Subject} {
			if notify.HasControl(v) {
				t.Fatalf("control character in header value %q", v)
			}
		}
	})
}

func TestRenderRecovery(t *testing.T) {
	exp := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	u := events.User{UID: "u1", Username: "John", Email: "john@example.com"}
	tests := []struct {
		name      string
		ev        events.Event
		templates []string
		to        []string
		text      []string
	}{
		{"reset", events.Event{Type: events.PasswordResetRequested, ResetURL: "https://app.example/reset#token=abc", ResetExpiresAt: &exp},
			[]string{"password_reset"}, []string{"john@example.com"}, []string{"https://app.example/reset#token=abc", "20:00 UTC"}},
		{"changed", events.Event{Type: events.PasswordChanged},
			[]string{"password_changed"}, []string{"john@example.com"}, []string{"wasn't you"}},
		{"email change", events.Event{Type: events.EmailChangeRequested, NewEmail: "jane@example.org",
			ConfirmURL: "https://id.example/api/email/confirm/xyz/", ConfirmExpiresAt: &exp},
			[]string{"email_change_confirm", "email_change_notice"}, []string{"jane@example.org", "john@example.com"},
			[]string{"https://id.example/api/email/confirm/xyz/", "j***@example.org"}},
		{"deleted", events.Event{Type: events.UserDeleted},
			[]string{"goodbye"}, []string{"john@example.com"}, []string{"deleted"}},
	}
	h := newEmailer(t, &fakeMailer{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.ev
			e.ID, e.Version, e.User = "ev-1", 1, u
			msgs, err := h.RenderAll(e)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != len(tt.templates) {
				t.Fatalf("%d emails, want %d", len(msgs), len(tt.templates))
			}
			var text string
			for i, m := range msgs {
				if m.Template != tt.templates[i] || m.To.Email != tt.to[i] || m.Subject != notify.DefaultSubjects[m.Template] || m.HTML == "" {
					t.Errorf("email %d: template %q to %q subject %q", i, m.Template, m.To.Email, m.Subject)
				}
				text += m.Text
			}
			for _, s := range tt.text {
				if !strings.Contains(text, s) {
					t.Errorf("text lacks %q:\n%s", s, text)
				}
			}
			if len(msgs) == 2 && msgs[0].MessageID == msgs[1].MessageID {
				t.Error("both emails have one Message-ID")
			}
		})
	}
}
