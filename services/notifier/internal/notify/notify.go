// Package notify decides what the notifier does for each event: which email
// to send (and its rendered content) and when to create the user in the
// Agent. It declares the two outbound ports it needs, Mailer and AgentClient;
// internal/smtp and internal/agent implement them.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ErrPermanent marks a failure that retrying cannot fix (an SMTP 5xx reply,
// an Agent 4xx other than 409 and 429, an address that is not an address).
// The consumer dead-letters such messages at once; every other error is
// retried with backoff.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Address is a display name and an email address. Both are checked before
// they reach a header (see Email.Validate).
type Address struct {
	Name  string
	Email string
}

// Email is one rendered message, ready for a Mailer.
type Email struct {
	// Template names what was rendered (a metrics label): verification or
	// duplicate_signup.
	Template  string
	From      Address
	To        Address
	Subject   string
	Text      string
	HTML      string
	MessageID string // without angle brackets: <local>@<domain>
}

// Mailer sends an email. Errors wrapping ErrPermanent are not retried.
type Mailer interface {
	Send(ctx context.Context, e Email) error
}

// AgentClient creates (or confirms) a user in the Agent; the call is
// idempotent by uid. Errors wrapping ErrPermanent are not retried.
type AgentClient interface {
	CreateUser(ctx context.Context, u events.User) error
}

// Template names, also the values of the template metric label.
const (
	TemplateVerification    = "verification"
	TemplateDuplicateSignup = "duplicate_signup"
	TemplateLoginAttack     = "login_attack"
)

// Templates lists every template name, for pre-created metric series.
var Templates = []string{TemplateVerification, TemplateDuplicateSignup, TemplateLoginAttack}

// Handler is what a consumer runs for each decoded event.
type Handler interface {
	Handle(ctx context.Context, e events.Event) error
}

// EmailSubjects are the subjects the email consumer handles.
var EmailSubjects = []string{events.UserCreated, events.VerificationRequested, events.SignupDuplicate, events.LoginAttackSuspected}

// AgentSubjects are the subjects the agent consumer handles.
var AgentSubjects = []string{events.UserCreated}

// EmailConfig is what the email handler needs besides the Mailer.
type EmailConfig struct {
	From                   Address
	SubjectVerification    string
	SubjectDuplicateSignup string
	// SubjectLoginAttack is the subject of the one notice sent when an
	// account reaches the ceiling of failed logins from unknown sources.
	SubjectLoginAttack string
}

// Emailer renders and sends the email an event calls for.
type Emailer struct {
	cfg      EmailConfig
	mailer   Mailer
	tmpl     *templates
	tracer   trace.Tracer
	duration *prometheus.HistogramVec
}

// NewEmailer returns the email handler. It registers
// kairos_email_send_duration_seconds{template} on reg.
func NewEmailer(cfg EmailConfig, m Mailer, tp trace.TracerProvider, reg prometheus.Registerer) (*Emailer, error) {
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	d := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kairos_email_send_duration_seconds",
		Help:    "Time to hand one email to the SMTP server, successful or not, by template.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"template"})
	if err := reg.Register(d); err != nil {
		return nil, err
	}
	for _, name := range Templates {
		d.WithLabelValues(name)
	}
	return &Emailer{cfg: cfg, mailer: m, tmpl: t, tracer: tp.Tracer("github.com/kairos-platform/identity/services/notifier/internal/notify"), duration: d}, nil
}

// Handle sends the verification email for user.created and
// user.verification_requested, the "you already have an account" email for
// user.signup_duplicate, and the "many failed sign-ins" notice for
// user.login_attack_suspected.
func (h *Emailer) Handle(ctx context.Context, e events.Event) error {
	msg, err := h.Render(e)
	if err != nil {
		return err
	}
	ctx, span := h.tracer.Start(ctx, "smtp send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("email.template", msg.Template), attribute.String("event.id", e.ID)))
	defer span.End()
	start := time.Now()
	err = h.mailer.Send(ctx, msg)
	h.duration.WithLabelValues(msg.Template).Observe(time.Since(start).Seconds())
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "send failed")
		return fmt.Errorf("send %s email: %w", msg.Template, err)
	}
	return nil
}

// Render builds the email for e without sending it. Invalid recipient data
// is a permanent error: no retry will make it valid.
func (h *Emailer) Render(e events.Event) (Email, error) {
	to, err := recipient(e.User)
	if err != nil {
		return Email{}, Permanent(err)
	}
	data := templateData{Username: to.Name, VerifyURL: e.VerifyURL}
	msg := Email{From: h.cfg.From, To: to, MessageID: MessageID(e.ID, h.cfg.From.Email)}
	switch e.Type {
	case events.UserCreated, events.VerificationRequested:
		msg.Template, msg.Subject = TemplateVerification, h.cfg.SubjectVerification
		if e.VerifyExpiresAt != nil {
			data.ExpiresAt = e.VerifyExpiresAt.UTC().Format("Monday, 2 January 2006 at 15:04 MST")
		}
	case events.SignupDuplicate:
		msg.Template, msg.Subject = TemplateDuplicateSignup, h.cfg.SubjectDuplicateSignup
	case events.LoginAttackSuspected:
		msg.Template, msg.Subject = TemplateLoginAttack, h.cfg.SubjectLoginAttack
	default:
		return Email{}, Permanent(fmt.Errorf("no email for event type %q", e.Type))
	}
	if msg.Text, msg.HTML, err = h.tmpl.render(msg.Template, data); err != nil {
		return Email{}, Permanent(err)
	}
	return msg, nil
}

// Syncer creates users in the Agent.
type Syncer struct {
	client   AgentClient
	tracer   trace.Tracer
	duration prometheus.Histogram
}

// NewSyncer returns the agent handler. It registers
// kairos_agent_sync_duration_seconds on reg.
func NewSyncer(c AgentClient, tp trace.TracerProvider, reg prometheus.Registerer) (*Syncer, error) {
	d := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kairos_agent_sync_duration_seconds",
		Help:    "Time of one Agent user-creation call, successful or not.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	if err := reg.Register(d); err != nil {
		return nil, err
	}
	return &Syncer{client: c, tracer: tp.Tracer("github.com/kairos-platform/identity/services/notifier/internal/notify"), duration: d}, nil
}

// Handle creates the user of a user.created event; other events need nothing.
func (s *Syncer) Handle(ctx context.Context, e events.Event) error {
	if e.Type != events.UserCreated {
		return nil
	}
	ctx, span := s.tracer.Start(ctx, "agent create user", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("user.uid", e.User.UID), attribute.String("event.id", e.ID)))
	defer span.End()
	start := time.Now()
	err := s.client.CreateUser(ctx, e.User)
	s.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "agent sync failed")
		return fmt.Errorf("agent sync: %w", err)
	}
	return nil
}

// MessageID derives a stable Message-ID from the event id, so a resent
// email (within the duplicate bound) carries the same id and mail clients
// can fold it. domain is taken from the sender's address.
func MessageID(eventID, from string) string {
	domain := "localhost"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	local := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return -1
	}, eventID)
	return "event." + local + "@" + domain
}

// recipient validates the user's address and cleans the display name: no
// byte of either may start a new header line.
func recipient(u events.User) (Address, error) {
	addr, err := CleanAddress(u.Email)
	if err != nil {
		return Address{}, err
	}
	return Address{Name: CleanName(u.Username), Email: addr}, nil
}

// CleanAddress returns email if it is a single plain address (no display
// name, no control characters), or an error.
func CleanAddress(email string) (string, error) {
	if HasControl(email) {
		return "", errors.New("recipient address contains control characters")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return "", errors.New("recipient address is not a plain email address")
	}
	return email, nil
}

// CleanName drops control characters (CR and LF among them) from a display
// name and collapses what remains, so it can never break a header.
func CleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	if len(name) > 100 {
		name = strings.ToValidUTF8(name[:100], "")
	}
	return name
}

// HasControl reports whether s has a character that could end a header
// line (CR, LF and the other control characters).
func HasControl(s string) bool { return strings.ContainsFunc(s, isControl) }

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085'
}
