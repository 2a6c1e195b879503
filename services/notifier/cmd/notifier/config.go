package main

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/kairos-platform/identity/pkg/envconf"
	"github.com/kairos-platform/identity/services/notifier/internal/notify"
)

// config is every setting of the notifier; this file is the only place the
// environment is read (OTEL_* aside, which telemetry.SetupTracing reads).
type config struct {
	NATSURL      string
	NATSReplicas int
	AdminAddr    string

	SMTPAddr     string
	SMTPUsername string
	SMTPPassword string // secret
	SMTPTLS      string
	SMTPTimeout  time.Duration

	MailFrom               notify.Address
	SubjectVerification    string
	SubjectDuplicateSignup string

	AgentBaseURL string
	AgentToken   string // secret
	AgentTimeout time.Duration

	Concurrency   int
	MaxAckPending int
	MaxDeliver    int
	RetryBase     time.Duration
	RetryMax      time.Duration
	AckWait       time.Duration

	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string
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
	return fmt.Sprintf("%+v", plain(c))
}

// natsConfig is the part the dlq subcommands need.
func loadNATSConfig(getenv func(string) string) (config, error) {
	e := envconf.New(getenv)
	c := config{
		NATSURL:      e.Str("NATS_URL", "nats://127.0.0.1:4222"),
		NATSReplicas: e.Int("NATS_STREAM_REPLICAS", 1, 1, 5),
		LogLevel:     e.Str("LOG_LEVEL", "info"),
		LogFormat:    e.Str("LOG_FORMAT", "json"),
	}
	for _, u := range strings.Split(c.NATSURL, ",") {
		if p, err := url.Parse(strings.TrimSpace(u)); err != nil || p.Host == "" {
			e.Fail("NATS_URL", "%q is not a list of nats://host:port URLs", c.NATSURL)
			break
		}
	}
	return c, e.Err()
}

func loadConfig(getenv func(string) string) (config, error) {
	c, err := loadNATSConfig(getenv)
	if err != nil {
		return config{}, err
	}
	e := envconf.New(getenv)
	c.AdminAddr = e.Str("ADMIN_ADDR", ":9091")

	c.SMTPAddr = e.Str("SMTP_ADDR", "localhost:1025")
	c.SMTPUsername = getenv("SMTP_USERNAME")
	c.SMTPPassword = getenv("SMTP_PASSWORD")
	c.SMTPTLS = strings.ToLower(e.Str("SMTP_TLS", "starttls"))
	c.SMTPTimeout = e.Duration("SMTP_TIMEOUT", 15*time.Second, 10*time.Millisecond)
	switch c.SMTPTLS {
	case "starttls", "tls", "none":
	default:
		e.Fail("SMTP_TLS", "%q is not one of starttls, tls, none", c.SMTPTLS)
	}
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

	c.AgentBaseURL = e.Str("AGENT_BASE_URL", "")
	c.AgentToken = getenv("AGENT_SERVICE_TOKEN")
	c.AgentTimeout = e.Duration("AGENT_TIMEOUT", 5*time.Second, 10*time.Millisecond)
	if c.AgentBaseURL != "" {
		if u, err := url.Parse(c.AgentBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			e.Fail("AGENT_BASE_URL", "%q is not an http(s) URL", c.AgentBaseURL)
		} else if strings.TrimSpace(c.AgentToken) == "" {
			e.Fail("AGENT_SERVICE_TOKEN", "required when AGENT_BASE_URL is set")
		} else if notify.HasControl(c.AgentToken) {
			e.Fail("AGENT_SERVICE_TOKEN", "must not contain control characters")
		}
	}

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
	return c, e.Err()
}
