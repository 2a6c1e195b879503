package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/smtptest"
	"github.com/kairos-platform/identity/pkg/testkit"
)

const agentToken = "test-agent-token"

// stack is the notifier's world in one test: JetStream, an SMTP sink and a
// fake Agent.
type stack struct {
	t     testing.TB
	nats  *natstest.Server
	smtp  *smtptest.Server
	agent *agenttest.Server
	js    jetstream.JetStream
}

func newStack(t testing.TB) *stack {
	t.Helper()
	return newStackOn(t, natstest.New(t))
}

// newStackOn is newStack on a given server (e.g. natstest.NewSystem).
func newStackOn(t testing.TB, ns *natstest.Server) *stack {
	t.Helper()
	ss, err := smtptest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	ag := agenttest.Start(agentToken)
	t.Cleanup(ag.Close)
	js := natstest.Connect(t, ns.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := events.EnsureStream(ctx, js, 1, 0); err != nil {
		t.Fatal(err)
	}
	return &stack{t: t, nats: ns, smtp: ss, agent: ag, js: js}
}

// env is the notifier's environment against this stack, with fast retries;
// overrides replace or (with "") remove variables.
func (s *stack) env(overrides map[string]string) func(string) string {
	m := map[string]string{
		"NATS_URL":             s.nats.URL(),
		"ADMIN_ADDR":           "127.0.0.1:0",
		"SMTP_ADDR":            s.smtp.Addr(),
		"SMTP_TLS":             "none",
		"SMTP_TIMEOUT":         "2s",
		"AGENT_BASE_URL":       s.agent.URL,
		"AGENT_SERVICE_TOKEN":  agentToken,
		"AGENT_TIMEOUT":        "2s",
		"NOTIFIER_RETRY_BASE":  "10ms",
		"NOTIFIER_RETRY_MAX":   "100ms",
		"NOTIFIER_MAX_DELIVER": "1000",
		"SHUTDOWN_TIMEOUT":     "10s",
		"NOTIFIER_ACK_WAIT":    "3s",
		"LOG_LEVEL":            "info",
	}
	for k, v := range overrides {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// instance is one notifier run in-process.
type instance struct {
	t      testing.TB
	out    *testkit.LogBuffer
	cancel context.CancelFunc
	done   chan error
	admin  string
}

// start runs the notifier and waits until /readyz answers 200.
func (s *stack) start(overrides map[string]string) *instance {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{t: s.t, out: &testkit.LogBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- run(ctx, []string{"notifier"}, s.env(overrides), in.out) }()
	s.t.Cleanup(func() { in.cancel(); <-in.done; in.done <- nil })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if in.admin == "" {
			for _, l := range in.out.Lines() {
				if l["msg"] == "admin listening" {
					in.admin, _ = l["addr"].(string)
				}
			}
		}
		select {
		case err := <-in.done:
			s.t.Fatalf("notifier exited early: %v\n%s", err, in.out)
		default:
		}
		if in.admin != "" {
			if resp, err := http.Get("http://" + in.admin + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return in
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("notifier not ready\n%s", in.out)
	return nil
}

// stop cancels the run (SIGTERM) and expects a clean exit.
func (in *instance) stop() {
	in.t.Helper()
	in.cancel()
	select {
	case err := <-in.done:
		in.done <- err // for the cleanup
		if err != nil {
			in.t.Fatalf("notifier returned %v", err)
		}
	case <-time.After(30 * time.Second):
		in.t.Fatal("notifier did not stop")
	}
}

func (in *instance) metrics() string {
	in.t.Helper()
	resp, err := http.Get("http://" + in.admin + "/metrics")
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// newEvent is a valid event of type typ for a fresh user.
func newEvent(typ string) events.Event {
	uid := uuid.NewString()
	e := events.Event{
		ID: uuid.NewString(), Type: typ, Version: events.Version, OccurredAt: time.Now().UTC(),
		User: events.User{UID: uid, Username: "user-" + uid[:8], Email: "u-" + uid[:8] + "@example.com"},
	}
	if typ != events.SignupDuplicate {
		exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
		e.VerifyURL = "http://localhost:8080/api/verify/tok-" + uid[:8] + "/"
		e.VerifyExpiresAt = &exp
	}
	return e
}

// publish puts e on the stream as the relay does: Msg-Id and traceparent.
func (s *stack) publish(e events.Event, traceparent string) {
	s.t.Helper()
	data, err := events.Encode(e)
	if err != nil {
		s.t.Fatal(err)
	}
	s.publishRaw(e.Type, e.ID, data, traceparent)
}

func (s *stack) publishRaw(subject, msgID string, data []byte, traceparent string) {
	s.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	if traceparent != "" {
		m.Header.Set(events.HeaderTraceParent, traceparent)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID)); err != nil {
		s.t.Fatal(err)
	}
}

func waitCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dlq runs a dlq subcommand against the stack.
func (s *stack) dlq(args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"notifier", "dlq"}, args...), s.env(nil), &out)
	return out.String(), err
}

func (s *stack) deadLetters() []map[string]any {
	s.t.Helper()
	out, err := s.dlq("list")
	if err != nil {
		s.t.Fatalf("dlq list: %v", err)
	}
	var dls []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			s.t.Fatalf("dlq list line %q: %v", line, err)
		}
		dls = append(dls, m)
	}
	return dls
}

// emailsTo counts accepted mails per recipient.
func emailsTo(msgs []smtptest.Message) map[string]int {
	n := map[string]int{}
	for _, m := range msgs {
		for _, to := range m.To {
			n[to]++
		}
	}
	return n
}

// agentCreates counts successful Agent calls per uid.
func agentCreates(calls []agenttest.Call) map[string]int {
	n := map[string]int{}
	for _, c := range calls {
		if c.Status >= 200 && c.Status < 300 {
			n[c.UID]++
		}
	}
	return n
}

func traceparent() (string, string) {
	tid := strings.ReplaceAll(uuid.NewString(), "-", "")
	sid := tid[:16]
	return fmt.Sprintf("00-%s-%s-01", tid, sid), tid
}
