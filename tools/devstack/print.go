package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/pkg/smtptest"
)

// formatMail renders a caught mail for the console: the text part carries
// the verification link, which is what the person running make dev needs.
func formatMail(m smtptest.Message) string {
	var b strings.Builder
	b.WriteString("\n╭─ mail caught ──────────────────────────────────────────────────────\n")
	fmt.Fprintf(&b, "│ From:    %s\n", m.Header.Get("From"))
	fmt.Fprintf(&b, "│ To:      %s\n", strings.Join(m.To, ", "))
	fmt.Fprintf(&b, "│ Subject: %s\n", m.Subject)
	b.WriteString("│\n")
	body := m.Text
	if body == "" {
		body = "(no text part; the HTML part has " + fmt.Sprint(len(m.HTML)) + " bytes)"
	}
	for _, l := range strings.Split(strings.TrimRight(strings.ReplaceAll(body, "\r\n", "\n"), "\n"), "\n") {
		b.WriteString("│ " + l + "\n")
	}
	b.WriteString("╰────────────────────────────────────────────────────────────────────\n\n")
	return b.String()
}

// printEvents subscribes to every event subject and prints what each event
// is about and its verification link, whenever show says so. It is how the
// link reaches the console while no ready notifier mails it, and with -events
// a window on the outbox relay.
func printEvents(ctx context.Context, natsURL string, out *console, show func() bool) (stop func(), err error) {
	nc, err := natsx.Connect(natsURL, natsx.Options{Name: "devstack-events"})
	if err != nil {
		return nil, fmt.Errorf("events: connect %s: %w", natsx.Redact(natsURL), err)
	}
	_, err = nc.Subscribe(events.StreamSubjects, func(m *nats.Msg) {
		if !show() {
			return
		}
		ev, err := events.Decode(m.Data)
		if err != nil {
			out.line("event", fmt.Sprintf("%s: undecodable (%v)", m.Subject, err))
			return
		}
		msg := fmt.Sprintf("%s uid=%s email=%s", ev.Type, ev.User.UID, ev.User.Email)
		if ev.VerifyURL != "" {
			msg += "\n  verify: " + ev.VerifyURL
		}
		out.line("event", msg)
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("events: subscribe: %w", err)
	}
	// The server must know the subscription before the first signup.
	_ = nc.FlushTimeout(5 * time.Second)
	return nc.Close, nil
}

// watchAgent prints every call the fake Agent receives.
func watchAgent(ctx context.Context, agent *agenttest.Server, out *console) {
	seen := 0
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		calls := agent.Calls()
		for _, c := range calls[seen:] {
			line := fmt.Sprintf("POST /users/%s {username: %q, email: %q} → %d", c.UID, c.Body.Username, c.Body.Email, c.Status)
			if c.TraceParent != "" {
				line += " traceparent=" + c.TraceParent
			}
			out.line("agent", line)
		}
		seen = len(calls)
	}
}

type bannerInfo struct {
	api, authAdmin, notifierAdmin string
	notifierState                 string // "" when it runs and is ready
	mailing                       bool
	database, nats, natsNote      string
	smtp, agent                   string
}

func banner(i bannerInfo) string {
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "│ %-16s %s\n", k, v) }
	b.WriteString("\n╭─ Kairos Identity is running ───────────────────────────────────────\n")
	row("API", i.api+"   (POST /api/signup/, GET /api/verify/{token}/, POST /api/login/)")
	row("auth-api admin", i.authAdmin+"/metrics   /healthz   /readyz")
	if !strings.HasPrefix(i.notifierState, "not running") {
		row("notifier admin", i.notifierAdmin+"/metrics   /healthz   /readyz")
	}
	if i.notifierState != "" {
		row("notifier", i.notifierState)
	}
	row("database", i.database)
	row("NATS", i.nats+i.natsNote)
	row("mail catcher", "smtp://"+i.smtp+"   (every mail is printed here)")
	row("fake Agent", i.agent+"   (every call is printed here)")
	b.WriteString("│\n")
	fmt.Fprintf(&b, "│ Sign up:  curl -s %s/api/signup/ -H 'Content-Type: application/json' \\\n", i.api)
	b.WriteString("│             -d '{\"username\":\"ada\",\"email\":\"ada@example.com\",\"password\":\"correct-horse-battery\"}'\n")
	if i.mailing {
		b.WriteString("│ then open the link of the mail below, and log in (README: Quick start).\n")
	} else {
		b.WriteString("│ then open the verify link of the event below, and log in (README: Quick start).\n")
	}
	b.WriteString("│ Ctrl-C stops everything.\n")
	b.WriteString("╰────────────────────────────────────────────────────────────────────\n\n")
	return b.String()
}
