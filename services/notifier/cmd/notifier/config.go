package main

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kairos-platform/identity/pkg/envconf"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natsx"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
	"github.com/kairos-platform/identity/services/notifier/internal/smtp"
)

// config is every setting of the notifier; this file is the only place the
// environment is read (the OTLP exporter's own OTEL_EXPORTER_OTLP_* aside).
type config struct {
	NATSURL      string
	NATSAuth     envconf.NATSAuth // String hides the password
	NATSReplicas int
	// EventRetention is the USERS stream's max age; auth-api must agree.
	EventRetention time.Duration
	AdminAddr      string

	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	SMTPPassword string // secret
	SMTPTLS      smtp.TLSMode
	SMTPTimeout  time.Duration

	MailFrom               notify.Address
	SubjectVerification    string
	SubjectDuplicateSignup string
	SubjectLoginAttack     string
	// Subjects of the recovery emails, by template (notify.DefaultSubjects).
	Subjects map[string]string

	AgentBaseURL *url.URL // nil: Agent sync off
	AgentToken   string   // secret
	AgentTimeout time.Duration
	// AgentSync are the subjects synced to the Agent (AGENT_SYNC_EVENTS).
	AgentSync []string

	Concurrency   int
	MaxAckPending int
	MaxDeliver    int
	RetryBase     time.Duration
	RetryMax      time.Duration
	AckWait       time.Duration

	ShutdownTimeout time.Duration
	Obs             envconf.Observability
	// GoMemLimit is GOMEMLIMIT, which the Go runtime reads itself; when set
	// it wins over the limit taken from the container.
	GoMemLimit string
}

// String masks the secrets, so the config can be logged.
func (c config) String() string {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "[set]"
	}
	c.SMTPPassword, c.AgentToken, c.SMTPUsername = mask(c.SMTPPassword), mask(c.AgentToken), mask(c.SMTPUsername)
	type plain config // no String method: no recursion
	p := plain(c)
	p.NATSURL = natsx.Redact(p.NATSURL)
	if p.AgentBaseURL != nil {
		u := *p.AgentBaseURL
		u.User = nil
		p.AgentBaseURL = &u
	}
	return fmt.Sprintf("%+v", p)
}

// inboxPrefix is where the notifier's replies arrive: the only subjects its
// NATS user may subscribe to (deploy/examples/nats-accounts.conf).
const inboxPrefix = "_INBOX_notifier"

// natsConfig is the part the dlq subcommands need.
func loadNATSConfig(getenv func(string) string) (config, error) {
	e := envconf.New(getenv)
	c := config{
		NATSURL:        e.Str("NATS_URL", "nats://127.0.0.1:4222"),
		NATSAuth:       e.NATSAuth(),
		NATSReplicas:   e.Int("NATS_STREAM_REPLICAS", 1, 1, 5),
		EventRetention: e.Duration("EVENT_RETENTION", events.MaxAge, time.Minute),
		Obs:            e.Observability("notifier"),
	}
	if err := natsx.ValidateURL(c.NATSURL); err != nil {
		e.Fail("NATS_URL", "%v", err)
	}
	return c, e.Err()
}

func loadConfig(getenv func(string) string) (config, error) {
	c, err := loadNATSConfig(getenv)
	if err != nil {
		return config{}, err
	}
	e := envconf.New(getenv)
	c.AdminAddr = e.HostPort("ADMIN_ADDR", ":9091")

	c.SMTPHost, c.SMTPPort = smtpAddr(e)
	c.SMTPUsername = getenv("SMTP_USERNAME")
	c.SMTPPassword = getenv("SMTP_PASSWORD")
	c.SMTPTLS = smtp.TLSMode(e.OneOf("SMTP_TLS", "starttls", "starttls", "tls", "none"))
	c.SMTPTimeout = e.Duration("SMTP_TIMEOUT", 15*time.Second, 10*time.Millisecond)
	if c.SMTPPassword != "" && c.SMTPUsername == "" {
		e.Fail("SMTP_PASSWORD", "set without SMTP_USERNAME")
	}

	from := e.Str("MAIL_FROM", "Kairos <no-reply@localhost>")
	if a, err := mail.ParseAddress(from); err != nil || notify.HasControl(from) {
		e.Fail("MAIL_FROM", "%q is not an address like \"Kairos <no-reply@example.com>\"", from)
	} else {
		c.MailFrom = notify.Address{Name: a.Name, Email: a.Address}
	}
	c.SubjectVerification = e.Str("MAIL_SUBJECT_VERIFICATION", "Confirm your email address for Kairos")
	c.SubjectDuplicateSignup = e.Str("MAIL_SUBJECT_DUPLICATE_SIGNUP", "You already have a Kairos account")
	if notify.HasControl(c.SubjectVerification) {
		e.Fail("MAIL_SUBJECT_VERIFICATION", "must be one line")
	}
	if notify.HasControl(c.SubjectDuplicateSignup) {
		e.Fail("MAIL_SUBJECT_DUPLICATE_SIGNUP", "must be one line")
	}
	c.SubjectLoginAttack = e.Str("MAIL_SUBJECT_LOGIN_ATTACK", "Many failed sign-ins to your Kairos account")
	if notify.HasControl(c.SubjectLoginAttack) {
		e.Fail("MAIL_SUBJECT_LOGIN_ATTACK", "must be one line")
	}

	c.Subjects = map[string]string{}
	for name, def := range notify.DefaultSubjects {
		v := "MAIL_SUBJECT_" + strings.ToUpper(name)
		if c.Subjects[name] = e.Str(v, def); notify.HasControl(c.Subjects[name]) {
			e.Fail(v, "must be one line")
		}
	}

	c.AgentBaseURL, c.AgentToken = agentSettings(e, getenv)
	c.AgentSync = agentSync(e)
	c.AgentTimeout = e.Duration("AGENT_TIMEOUT", 5*time.Second, 10*time.Millisecond)

	c.Concurrency = e.Int("NOTIFIER_CONCURRENCY", 16, 1, 1024)
	c.MaxAckPending = e.Int("NOTIFIER_MAX_ACK_PENDING", 4*c.Concurrency, 1, 100000)
	if c.MaxAckPending < c.Concurrency {
		e.Fail("NOTIFIER_MAX_ACK_PENDING", "%d is less than NOTIFIER_CONCURRENCY (%d)", c.MaxAckPending, c.Concurrency)
	}
	c.MaxDeliver = e.Int("NOTIFIER_MAX_DELIVER", 30, 1, 10000)
	c.RetryBase = e.Duration("NOTIFIER_RETRY_BASE", 2*time.Second, time.Millisecond)
	c.RetryMax = e.Duration("NOTIFIER_RETRY_MAX", 5*time.Minute, time.Millisecond)
	if c.RetryMax < c.RetryBase {
		e.Fail("NOTIFIER_RETRY_MAX", "%s is less than NOTIFIER_RETRY_BASE (%s)", c.RetryMax, c.RetryBase)
	}
	c.AckWait = e.Duration("NOTIFIER_ACK_WAIT", 30*time.Second, 300*time.Millisecond)
	c.ShutdownTimeout = e.Duration("SHUTDOWN_TIMEOUT", 20*time.Second, 0)
	c.GoMemLimit = e.Str("GOMEMLIMIT", "")
	return c, e.Err()
}

// smtpAddr is SMTP_ADDR split into a host and a port.
func smtpAddr(e *envconf.Env) (string, int) {
	v := e.Str("SMTP_ADDR", "localhost:1025")
	host, p, err := net.SplitHostPort(v)
	port, perr := strconv.Atoi(p)
	if err != nil || host == "" || perr != nil || port < 1 || port > 65535 {
		e.Fail("SMTP_ADDR", "%q is not host:port (e.g. smtp.example.com:587)", v)
	}
	return host, port
}

// agentSync is AGENT_SYNC_EVENTS as subjects: an Agent without the PATCH
// and DELETE routes yet is given only what it can take.
func agentSync(e *envconf.Env) []string {
	names := e.List("AGENT_SYNC_EVENTS")
	if len(names) == 0 {
		return notify.AgentSubjects
	}
	var subjects []string
	for _, n := range names {
		s, ok := notify.AgentSyncEvents[n]
		if !ok {
			e.Fail("AGENT_SYNC_EVENTS", "%q is not one of created, email_changed, deleted", n)
			continue
		}
		if !slices.Contains(subjects, s) {
			subjects = append(subjects, s)
		}
	}
	return subjects
}

// agentSettings are the Agent's URL and token: both, or neither (sync off).
func agentSettings(e *envconf.Env, getenv func(string) string) (*url.URL, string) {
	token := getenv("AGENT_SERVICE_TOKEN")
	raw := e.Str("AGENT_BASE_URL", "")
	if raw == "" {
		return nil, token
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		e.Fail("AGENT_BASE_URL", "%q is not an http(s) URL", raw)
	case strings.TrimSpace(token) == "":
		e.Fail("AGENT_SERVICE_TOKEN", "required when AGENT_BASE_URL is set")
	case notify.HasControl(token):
		e.Fail("AGENT_SERVICE_TOKEN", "must not contain control characters")
	default:
		return u, token
	}
	return nil, token
}
