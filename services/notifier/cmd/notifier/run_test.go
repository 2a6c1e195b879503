package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/smtptest"
	"github.com/kairos-platform/identity/pkg/testkit"
)

// 200 new users → 200 verification emails and 200 Agent creations, none
// twice; each Agent call carries the token and the event's trace.
func TestBacklogDeliveredOnce(t *testing.T) {
	s := newStack(t)
	const n = 200
	want := map[string]string{} // email → trace id
	uids := map[string]bool{}
	for range n {
		e := newEvent(events.UserCreated)
		tp, tid := traceparent()
		s.publish(e, tp)
		want[e.User.Email] = tid
		uids[e.User.UID] = true
	}
	in := s.start(nil)
	if _, err := s.smtp.WaitFor(waitCtx(t), n); err != nil {
		t.Fatal(err)
	}
	if _, err := s.agent.WaitForUsers(waitCtx(t), n); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "every message acknowledged", func() bool {
		return strings.Contains(in.metrics(), `kairos_notifier_messages_total{consumer="agent",result="ok",subject="user.created"} 200`) &&
			strings.Contains(in.metrics(), `kairos_notifier_messages_total{consumer="email",result="ok",subject="user.created"} 200`)
	})
	in.stop()

	msgs := s.smtp.Messages()
	if len(msgs) != n {
		t.Errorf("%d emails, want %d", len(msgs), n)
	}
	for to, c := range emailsTo(msgs) {
		if c != 1 || want[to] == "" {
			t.Errorf("%s got %d emails", to, c)
		}
	}
	calls := s.agent.Calls()
	if len(calls) != n {
		t.Errorf("%d Agent calls, want %d", len(calls), n)
	}
	for _, c := range calls {
		if !uids[c.UID] || c.Status != http.StatusCreated || c.Token != agentToken {
			t.Errorf("Agent call %+v", c)
		}
		if tid := want[c.Body.Email]; !strings.Contains(c.TraceParent, tid) {
			t.Errorf("Agent call for %s carried traceparent %q, want trace %s", c.UID, c.TraceParent, tid)
		}
	}
}

// The email shows the link and its expiry, as text and HTML, with a
// Message-ID derived from the event id; the duplicate-signup email differs.
func TestEmailContent(t *testing.T) {
	s := newStack(t)
	e := newEvent(events.UserCreated)
	d := newEvent(events.SignupDuplicate)
	s.publish(e, "")
	s.publish(d, "")
	s.start(map[string]string{"MAIL_FROM": "Kairos Team <hello@kairos.example>", "MAIL_SUBJECT_VERIFICATION": "Please verify"})
	msgs, err := s.smtp.WaitFor(waitCtx(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	byTo := map[string]smtptest.Message{}
	for _, m := range msgs {
		byTo[m.To[0]] = m
	}
	v, dup := byTo[e.User.Email], byTo[d.User.Email]
	exp := e.VerifyExpiresAt.UTC().Format("2 January 2006 at 15:04 UTC")
	tests := []struct {
		name string
		ok   bool
	}{
		{"Message-ID from event id", v.MessageID == "<event."+e.ID+"@kairos.example>"},
		{"subject configured", v.Subject == "Please verify"},
		{"from configured", strings.Contains(v.Header.Get("From"), "hello@kairos.example")},
		{"multipart alternative", strings.HasPrefix(v.Header.Get("Content-Type"), "multipart/alternative")},
		{"text has link", strings.Contains(v.Text, e.VerifyURL)},
		{"html has link", strings.Contains(v.HTML, `href="`+e.VerifyURL+`"`)},
		{"text has expiry", strings.Contains(v.Text, exp)},
		{"html has expiry", strings.Contains(v.HTML, exp)},
		{"greets user", strings.Contains(v.Text, e.User.Username)},
		{"duplicate subject", dup.Subject == "You already have a Kairos account"},
		{"duplicate says log in", strings.Contains(dup.Text, "already have an account") && strings.Contains(dup.HTML, "reset your password")},
		{"duplicate has no link", !strings.Contains(dup.Text, "/api/verify/")},
		{"duplicate Message-ID", dup.MessageID == "<event."+d.ID+"@kairos.example>"},
		{"auto-submitted", v.Header.Get("Auto-Submitted") == "auto-generated"},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: failed\n%s", tt.name, v.Raw)
		}
	}
}

// A username with CR/LF cannot add headers; an address with them is
// dead-lettered, never sent.
func TestNoHeaderInjection(t *testing.T) {
	s := newStack(t)
	e := newEvent(events.VerificationRequested)
	e.User.Username = "Eve\r\nBcc: victim@example.com\r\nX-Evil: 1"
	bad := newEvent(events.VerificationRequested)
	bad.User.Email = "eve@example.com\r\nBcc: victim@example.com"
	s.publish(bad, "")
	s.publish(e, "")
	s.start(nil)
	msgs, err := s.smtp.WaitFor(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(msgs[0].Raw)
	if msgs[0].Header.Get("Bcc") != "" || msgs[0].Header.Get("X-Evil") != "" || strings.Contains(raw, "\nBcc:") || strings.Contains(raw, "\nX-Evil:") {
		t.Errorf("header injected:\n%s", raw)
	}
	if len(msgs[0].To) != 1 || msgs[0].To[0] != e.User.Email {
		t.Errorf("recipients %v", msgs[0].To)
	}
	testkit.Eventually(t, "bad address dead-lettered", func() bool { return len(s.deadLetters()) == 1 })
	dl := s.deadLetters()[0]
	if dl["reason"] != "permanent" || dl["consumer"] != "email" {
		t.Errorf("dead letter %v", dl)
	}
	for _, m := range s.smtp.Messages() {
		for _, to := range m.To {
			if strings.Contains(to, "victim") {
				t.Errorf("mail sent to %s", to)
			}
		}
	}
}

// An Agent answering 500 does not hold back the email; the user is synced
// once when it recovers, and the email is not repeated.
func TestAgentOutageDoesNotDelayEmail(t *testing.T) {
	s := newStack(t)
	s.agent.SetStatus(http.StatusInternalServerError)
	e := newEvent(events.UserCreated)
	s.publish(e, "")
	s.start(nil)
	if _, err := s.smtp.WaitFor(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "three failed Agent calls", func() bool { return len(s.agent.Calls()) >= 3 })
	if len(s.agent.Users()) != 0 {
		t.Fatal("user synced while the Agent fails")
	}
	s.agent.SetStatus(0)
	if _, err := s.agent.WaitForUsers(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	if got := agentCreates(s.agent.Calls())[e.User.UID]; got != 1 {
		t.Errorf("%d successful Agent calls, want 1", got)
	}
	if got := len(s.smtp.Messages()); got != 1 {
		t.Errorf("%d emails, want 1", got)
	}
}

// The Agent answers 500 three times, then 201: synced once.
func TestAgentRetriedUntilCreated(t *testing.T) {
	s := newStack(t)
	s.agent.FailNext(500, 500, 500)
	e := newEvent(events.UserCreated)
	s.publish(e, "")
	s.start(nil)
	if _, err := s.agent.WaitForUsers(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for _, c := range s.agent.Calls() {
		statuses = append(statuses, c.Status)
	}
	if fmt.Sprint(statuses) != "[500 500 500 201]" {
		t.Errorf("Agent answered %v", statuses)
	}
	if _, err := s.smtp.WaitFor(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
}

// SMTP refusing (4xx) and then hanging: mails are delivered after it
// recovers; the Agent sync goes on meanwhile.
func TestSMTPOutage(t *testing.T) {
	for _, mode := range []smtptest.Mode{smtptest.RefuseTemporary, smtptest.Hang} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			s := newStack(t)
			s.smtp.SetMode(mode)
			const n = 5
			for range n {
				s.publish(newEvent(events.UserCreated), "")
			}
			s.start(map[string]string{"SMTP_TIMEOUT": "200ms"})
			if _, err := s.agent.WaitForUsers(waitCtx(t), n); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, "retried sends", func() bool { return s.smtp.Attempts() >= 2*n })
			if got := len(s.smtp.Messages()); got != 0 {
				t.Fatalf("%d mails accepted during the outage", got)
			}
			s.smtp.SetMode(smtptest.Accept)
			msgs, err := s.smtp.WaitFor(waitCtx(t), n)
			if err != nil {
				t.Fatal(err)
			}
			for to, c := range emailsTo(msgs) {
				if c != 1 {
					t.Errorf("%s got %d emails", to, c)
				}
			}
		})
	}
}

// An Agent 400 and an undecodable event are dead-lettered at once; the
// messages behind them flow; dlq list shows them and dlq replay delivers
// the Agent one once the Agent accepts it, without a second email.
func TestDeadLettersAndReplay(t *testing.T) {
	s := newStack(t)
	s.agent.FailNext(http.StatusBadRequest)
	a := newEvent(events.UserCreated)
	s.publish(a, "")
	s.publishRaw(events.UserCreated, "poison-1", []byte(`{"this is": not json`), "")
	b := newEvent(events.UserCreated)
	s.publish(b, "")
	// One at a time, so the 400 meets a and the poison sits before b.
	in := s.start(map[string]string{"NOTIFIER_CONCURRENCY": "1"})

	if _, err := s.agent.WaitForUsers(waitCtx(t), 1); err != nil { // b, behind the poison
		t.Fatal(err)
	}
	testkit.Eventually(t, "three dead letters", func() bool { return len(s.deadLetters()) == 3 })
	var agentDL string
	reasons := map[string]int{}
	for _, dl := range s.deadLetters() {
		reasons[fmt.Sprint(dl["consumer"], "/", dl["reason"])]++
		if dl["consumer"] == "agent" && dl["reason"] == "permanent" {
			agentDL = fmt.Sprint(dl["id"])
			if dl["event_id"] != a.ID || dl["attempts"] != float64(1) || !strings.Contains(fmt.Sprint(dl["last_error"]), "400") {
				t.Errorf("agent dead letter %v", dl)
			}
			if strings.Contains(fmt.Sprint(dl["event"]), "tok-") {
				t.Errorf("dlq list shows the verification link: %v", dl)
			}
		}
	}
	if reasons["agent/permanent"] != 1 || reasons["agent/undecodable"] != 1 || reasons["email/undecodable"] != 1 {
		t.Errorf("dead letters by reason %v", reasons)
	}
	m := in.metrics()
	for _, series := range []string{
		`kairos_dead_letters_total{consumer="agent",reason="permanent"} 1`,
		`kairos_dead_letters_total{consumer="agent",reason="undecodable"} 1`,
		`kairos_dead_letters_total{consumer="email",reason="undecodable"} 1`,
	} {
		if !strings.Contains(m, series) {
			t.Errorf("metrics lack %s", series)
		}
	}

	// The cause is fixed (the Agent accepts now): replay the Agent one.
	out, err := s.dlq("replay", agentDL)
	if err != nil || !strings.Contains(out, "replayed "+agentDL) {
		t.Fatalf("dlq replay: %v %q", err, out)
	}
	if _, err := s.agent.WaitForUsers(waitCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	if got := len(s.deadLetters()); got != 2 {
		t.Errorf("%d dead letters after replay, want 2", got)
	}
	// The email consumer skips the replay: one email per event.
	testkit.Eventually(t, "replay skipped by email", func() bool {
		return strings.Contains(in.metrics(), `kairos_notifier_messages_total{consumer="email",result="duplicate_skipped",subject="user.created"} 1`)
	})
	for to, c := range emailsTo(s.smtp.Messages()) {
		if c != 1 {
			t.Errorf("%s got %d emails", to, c)
		}
	}
	if got := len(s.smtp.Messages()); got != 2 {
		t.Errorf("%d emails, want 2", got)
	}

	// Still undecodable: replaying it dead-letters it again, never blocks.
	if out, err := s.dlq("replay", "--all"); err != nil || strings.Count(out, "replayed") != 2 {
		t.Fatalf("dlq replay --all: %v %q", err, out)
	}
	c := newEvent(events.UserCreated)
	s.publish(c, "")
	if _, err := s.agent.WaitForUsers(waitCtx(t), 3); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "poison dead-lettered again", func() bool { return len(s.deadLetters()) == 2 })
}

// A failure that never stops is dead-lettered after MaxDeliver attempts.
func TestMaxDeliver(t *testing.T) {
	s := newStack(t)
	s.agent.SetStatus(http.StatusServiceUnavailable)
	e := newEvent(events.UserCreated)
	s.publish(e, "")
	s.start(map[string]string{"NOTIFIER_MAX_DELIVER": "3"})
	testkit.Eventually(t, "dead letter", func() bool { return len(s.deadLetters()) == 1 })
	dl := s.deadLetters()[0]
	if dl["reason"] != "max_deliver" || dl["attempts"] != float64(3) || dl["consumer"] != "agent" || dl["subject"] != events.UserCreated {
		t.Errorf("dead letter %v", dl)
	}
	if got := len(s.agent.Calls()); got != 3 {
		t.Errorf("%d Agent calls, want 3", got)
	}
	s.agent.SetStatus(0)
	if _, err := s.dlq("replay", "--all"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.agent.WaitForUsers(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
}

// Stopped mid-backlog and restarted, then NATS restarted mid-stream:
// nothing lost, and duplicates stay within the documented bound (one per
// event in flight at the interruption, at most the concurrency).
func TestRestartsLoseNothing(t *testing.T) {
	s := newStack(t)
	const n = 300
	for range n {
		s.publish(newEvent(events.UserCreated), "")
	}
	env := map[string]string{"NOTIFIER_CONCURRENCY": "8"}
	s.agent.SetDelay(5 * time.Millisecond)
	// No grace period: work in flight is cut off, as in a crash.
	in := s.start(map[string]string{"NOTIFIER_CONCURRENCY": "8", "SHUTDOWN_TIMEOUT": "0s"})
	testkit.Eventually(t, "part of the backlog", func() bool { return len(s.smtp.Messages()) >= 50 })
	in.stop()
	stoppedAt := len(s.smtp.Messages())
	if stoppedAt >= n {
		t.Logf("backlog drained before the stop (%d); the restart still must not repeat", stoppedAt)
	}
	in = s.start(env)
	testkit.Eventually(t, "some more", func() bool { return len(s.smtp.Messages()) >= stoppedAt+50 || len(s.smtp.Messages()) >= n })
	s.nats.Restart()
	for range 50 {
		s.publish(newEvent(events.UserCreated), "")
	}
	if _, err := s.smtp.WaitFor(waitCtx(t), n+50); err != nil {
		t.Fatal(err)
	}
	if _, err := s.agent.WaitForUsers(waitCtx(t), n+50); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "ready again", func() bool {
		resp, err := http.Get("http://" + in.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	in.stop()
	dups := 0
	for _, c := range emailsTo(s.smtp.Messages()) {
		dups += c - 1
	}
	agentDups := 0
	for _, c := range agentCreates(s.agent.Calls()) {
		agentDups += c - 1
	}
	// Two interruptions, each at most `concurrency` (8) messages in flight.
	if dups > 16 || agentDups > 16 {
		t.Errorf("%d duplicate emails and %d duplicate Agent calls, bound is 16", dups, agentDups)
	}
	t.Logf("duplicates: %d emails, %d Agent calls", dups, agentDups)
}

// Two notifiers on one backlog: each event handled once.
func TestTwoInstancesShareTheBacklog(t *testing.T) {
	s := newStack(t)
	const n = 300
	for range n {
		s.publish(newEvent(events.UserCreated), "")
	}
	a := s.start(nil)
	b := s.start(nil)
	if _, err := s.smtp.WaitFor(waitCtx(t), n); err != nil {
		t.Fatal(err)
	}
	if _, err := s.agent.WaitForUsers(waitCtx(t), n); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let any stray duplicate arrive before counting
	a.stop()
	b.stop()
	if got := len(s.smtp.Messages()); got != n {
		t.Errorf("%d emails, want %d", got, n)
	}
	if got := len(s.agent.Calls()); got != n {
		t.Errorf("%d Agent calls, want %d", got, n)
	}
	handledBy := func(in *instance) int {
		return strings.Count(in.out.String(), `"msg":"handled"`)
	}
	_ = handledBy
}

// SIGTERM with a slow Agent call in flight: the call finishes, then run
// returns nil.
func TestShutdownFinishesInFlight(t *testing.T) {
	s := newStack(t)
	s.agent.SetDelay(500 * time.Millisecond)
	e := newEvent(events.UserCreated)
	s.publish(e, "")
	in := s.start(nil)
	testkit.Eventually(t, "email sent", func() bool { return len(s.smtp.Messages()) == 1 })
	in.stop()
	if len(s.agent.Users()) != 1 {
		t.Errorf("Agent call did not finish before exit")
	}
	if !strings.Contains(in.out.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in logs")
	}
}

// Without AGENT_BASE_URL the agent consumer is not started, once said.
func TestWithoutAgent(t *testing.T) {
	s := newStack(t)
	s.publish(newEvent(events.UserCreated), "")
	in := s.start(map[string]string{"AGENT_BASE_URL": "", "AGENT_SERVICE_TOKEN": ""})
	if _, err := s.smtp.WaitFor(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	for _, series := range []string{`kairos_agent_responses_total{class="5xx"} 0`, `kairos_agent_sync_duration_seconds_count 0`} {
		if !strings.Contains(in.metrics(), series) {
			t.Errorf("without the Agent, %s is missing", series)
		}
	}
	in.stop()
	if got := strings.Count(in.out.String(), "AGENT_BASE_URL is empty"); got != 1 {
		t.Errorf("said %d times that the Agent sync is off", got)
	}
	if len(s.agent.Calls()) != 0 {
		t.Error("Agent called")
	}
}

// Every metric of the contract exists before the first event.
func TestMetricsPreCreated(t *testing.T) {
	s := newStack(t)
	in := s.start(nil)
	m := in.metrics()
	for _, series := range []string{
		`kairos_build_info{commit="",service="notifier",version="dev"} 1`,
		`kairos_nats_connected 1`,
		`kairos_notifier_messages_total{consumer="email",result="ok",subject="user.signup_duplicate"} 0`,
		`kairos_notifier_messages_total{consumer="email",result="dead_letter",subject="unknown"} 0`,
		`kairos_notifier_messages_total{consumer="agent",result="duplicate_skipped",subject="user.created"} 0`,
		`kairos_notifier_messages_total{consumer="agent",result="retry",subject="user.created"} 0`,
		`kairos_email_send_duration_seconds_count{template="verification"} 0`,
		`kairos_email_send_duration_seconds_count{template="duplicate_signup"} 0`,
		`kairos_agent_sync_duration_seconds_count 0`,
		`kairos_agent_responses_total{class="error"} 0`,
		`kairos_agent_responses_total{class="2xx"} 0`,
		`kairos_dead_letters_total{consumer="email",reason="max_deliver"} 0`,
		`kairos_dead_letters_total{consumer="agent",reason="undecodable"} 0`,
		`kairos_consumer_pending_messages{consumer="email"} 0`,
		`kairos_consumer_ack_pending_messages{consumer="agent"} 0`,
		`kairos_consumer_redelivered_messages{consumer="email"} 0`,
	} {
		if !strings.Contains(m, series) {
			t.Errorf("missing %s", series)
		}
	}
}

// One trace: the consume span continues the message's traceparent, and the
// SMTP send and the Agent call are its children.
func TestTraceContinuesFromMessage(t *testing.T) {
	s := newStack(t)
	e := newEvent(events.UserCreated)
	tp, tid := traceparent()
	s.publish(e, tp)
	in := s.start(map[string]string{"OTEL_TRACES_EXPORTER": "console"})
	if _, err := s.agent.WaitForUsers(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.smtp.WaitFor(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "both handled", func() bool {
		m := in.metrics()
		return strings.Contains(m, `kairos_notifier_messages_total{consumer="agent",result="ok",subject="user.created"} 1`) &&
			strings.Contains(m, `kairos_notifier_messages_total{consumer="email",result="ok",subject="user.created"} 1`)
	})
	in.stop() // flushes the spans
	names := map[string]int{}
	for _, l := range in.out.Lines() {
		sc, ok := l["SpanContext"].(map[string]any)
		if !ok || sc["TraceID"] != tid {
			continue
		}
		names[fmt.Sprint(l["Name"])]++
	}
	for _, want := range []string{"process user.created", "smtp send", "agent create user", "POST /users/{uid}"} {
		if names[want] == 0 {
			t.Errorf("no span %q in trace %s; got %v", want, tid, names)
		}
	}
	if names["process user.created"] != 2 {
		t.Errorf("want a consume span per consumer, got %v", names)
	}
	if c := s.agent.Calls()[0]; !strings.Contains(c.TraceParent, tid) {
		t.Errorf("Agent got traceparent %q", c.TraceParent)
	}
	if strings.Contains(in.out.String(), e.VerifyURL) {
		t.Error("the verification link was logged or put on a span")
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"agent without token", "AGENT_SERVICE_TOKEN", "", "AGENT_SERVICE_TOKEN: required when AGENT_BASE_URL is set"},
		{"agent url", "AGENT_BASE_URL", "ftp://x", "AGENT_BASE_URL:"},
		{"agent sync events", "AGENT_SYNC_EVENTS", "created,renamed", `AGENT_SYNC_EVENTS: "renamed" is not one of created, email_changed, deleted`},
		{"event retention", "EVENT_RETENTION", "1s", "EVENT_RETENTION:"},
		{"recovery subject", "MAIL_SUBJECT_GOODBYE", "a\nBcc: x@y", "MAIL_SUBJECT_GOODBYE:"},
		{"tls mode", "SMTP_TLS", "ssl3", "SMTP_TLS:"},
		{"concurrency", "NOTIFIER_CONCURRENCY", "0", "NOTIFIER_CONCURRENCY:"},
		{"timeout", "AGENT_TIMEOUT", "soon", "AGENT_TIMEOUT:"},
		{"smtp timeout", "SMTP_TIMEOUT", "-1s", "SMTP_TIMEOUT:"},
		{"from", "MAIL_FROM", "not an address", "MAIL_FROM:"},
		{"subject", "MAIL_SUBJECT_VERIFICATION", "a\nBcc: x@y", "MAIL_SUBJECT_VERIFICATION:"},
		{"replicas", "NATS_STREAM_REPLICAS", "9", "NATS_STREAM_REPLICAS:"},
		{"max deliver", "NOTIFIER_MAX_DELIVER", "x", "NOTIFIER_MAX_DELIVER:"},
		{"retry max below base", "NOTIFIER_RETRY_MAX", "1ms", "NOTIFIER_RETRY_MAX:"},
		{"smtp addr", "SMTP_ADDR", "nohost", "SMTP_ADDR:"},
		{"log level", "LOG_LEVEL", "loud", "LOG_LEVEL:"},
		{"shutdown", "SHUTDOWN_TIMEOUT", "forever", "SHUTDOWN_TIMEOUT:"},
		{"password without user", "SMTP_PASSWORD", "pw", "SMTP_PASSWORD:"},
		// Checked before anything connects: NATS_URL (port 1) would
		// otherwise only log reconnect attempts.
		{"admin addr", "ADMIN_ADDR", "notaport", "ADMIN_ADDR:"},
		{"nats url", "NATS_URL", "bogus", "NATS_URL:"},
		{"nats url scheme", "NATS_URL", "http://x", "NATS_URL:"},
		{"smtp port", "SMTP_ADDR", "mail:0", "SMTP_ADDR:"},
		{"log format", "LOG_FORMAT", "xml", "LOG_FORMAT:"},
		{"trace exporter", "OTEL_TRACES_EXPORTER", "zipkin", "OTEL_TRACES_EXPORTER:"},
		{"retry base message", "NOTIFIER_RETRY_BASE", "0s", `NOTIFIER_RETRY_BASE: "0s" is not a duration of at least 1ms (e.g. 2s, 4s)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{
				"NATS_URL": "nats://127.0.0.1:1", "ADMIN_ADDR": "127.0.0.1:0",
				"AGENT_BASE_URL": "http://agent.local", "AGENT_SERVICE_TOKEN": "secret-token",
				"NOTIFIER_RETRY_BASE": "1s",
			}
			env[tt.key] = tt.value
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out strings.Builder
			err := run(ctx, []string{"notifier"}, func(k string) string { return env[k] }, &out)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if out.Len() > 0 {
				t.Errorf("logged before the settings were checked: %s", out.String())
			}
			if !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line starting %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("error shows the token: %q", err)
			}
		})
	}
}

// help and version print to stdout and succeed, the same way as auth-api.
func TestHelpAndVersion(t *testing.T) {
	tests := []struct{ arg, want string }{
		{"help", "dlq replay (--all | ID...)"},
		{"-h", "Configuration"},
		{"--help", "usage: notifier"},
		{"version", "notifier dev (commit dev)\n"},
		{"--version", "notifier dev (commit dev)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			var out strings.Builder
			err := run(context.Background(), []string{"notifier", tt.arg}, func(string) string { return "" }, &out)
			if err != nil || !strings.Contains(out.String(), tt.want) {
				t.Errorf("out %q, err %v; want %q", out.String(), err, tt.want)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"notifier", "bogus"}, `unknown command "bogus"`},
		{[]string{"notifier", "dlq"}, "usage:"},
		{[]string{"notifier", "dlq", "replay"}, "give --all or IDs"},
		{[]string{"notifier", "dlq", "replay", "--all", "3"}, "give --all or IDs"},
		{[]string{"notifier", "dlq", "replay", "x"}, `"x" is not a dead-letter id`},
		{[]string{"notifier", "dlq", "list"}, "NATS_URL: cannot connect"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			env := map[string]string{"NATS_URL": "nats://127.0.0.1:1"}
			err := run(context.Background(), tt.args, func(k string) string { return env[k] }, new(strings.Builder))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
