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
	"slices"
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

// AgentClient keeps the Agent's copy of a user in step; every call is
// idempotent by uid. Errors wrapping ErrPermanent are not retried.
type AgentClient interface {
	CreateUser(ctx context.Context, u events.User) error
	// UpdateUser sets the user's email and username.
	UpdateUser(ctx context.Context, u events.User) error
	// DeleteUser removes the user; a user the Agent does not know is done.
	DeleteUser(ctx context.Context, uid string) error
}

// Template names, also the values of the template metric label.
const (
	TemplateVerification       = "verification"
	TemplateDuplicateSignup    = "duplicate_signup"
	TemplateLoginAttack        = "login_attack"
	TemplatePasswordReset      = "password_reset"
	TemplatePasswordChanged    = "password_changed"
	TemplateEmailChangeConfirm = "email_change_confirm"
	TemplateEmailChangeNotice  = "email_change_notice"
	TemplateGoodbye            = "goodbye"
)

// Templates lists every template name, for pre-created metric series.
var Templates = []string{TemplateVerification, TemplateDuplicateSignup, TemplateLoginAttack, TemplatePasswordReset,
	TemplatePasswordChanged, TemplateEmailChangeConfirm, TemplateEmailChangeNotice, TemplateGoodbye}

// Handler is what a consumer runs for each decoded event.
type Handler interface {
	Handle(ctx context.Context, e events.Event) error
}

// EmailSubjects are the subjects the email consumer handles.
var EmailSubjects = []string{events.UserCreated, events.VerificationRequested, events.SignupDuplicate, events.LoginAttackSuspected,
	events.PasswordResetRequested, events.PasswordChanged, events.EmailChangeRequested, events.UserDeleted}

// AgentSyncEvents maps the names AGENT_SYNC_EVENTS accepts to subjects.
var AgentSyncEvents = map[string]string{
	"created":       events.UserCreated,
	"email_changed": events.EmailChanged,
	"deleted":       events.UserDeleted,
}

// AgentSubjects are the subjects the agent consumer handles by default.
var AgentSubjects = []string{events.UserCreated, events.EmailChanged, events.UserDeleted}

// EmailConfig is what the email handler needs besides the Mailer. An empty
// subject of a recovery email gets its default (DefaultSubjects).
type EmailConfig struct {
	From                   Address
	SubjectVerification    string
	SubjectDuplicateSignup string
	// SubjectLoginAttack is the subject of the one notice sent when an
	// account reaches the ceiling of failed logins from unknown sources.
	SubjectLoginAttack string
	// Subjects of the other templates, by template name.
	Subjects map[string]string
}

// DefaultSubjects are the subjects of the templates EmailConfig has no
// field for.
var DefaultSubjects = map[string]string{
	TemplatePasswordReset:      "Reset your Kairos password",
	TemplatePasswordChanged:    "Your Kairos password was changed",
	TemplateEmailChangeConfirm: "Confirm your new email address for Kairos",
	TemplateEmailChangeNotice:  "Your Kairos email address is being changed",
	TemplateGoodbye:            "Your Kairos account was deleted",
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
	subjects := map[string]string{TemplateVerification: cfg.SubjectVerification, TemplateDuplicateSignup: cfg.SubjectDuplicateSignup,
		TemplateLoginAttack: cfg.SubjectLoginAttack}
	for name, def := range DefaultSubjects {
		subjects[name] = def
		if v := cfg.Subjects[name]; v != "" {
			subjects[name] = v
		}
	}
	cfg.Subjects = subjects
	return &Emailer{cfg: cfg, mailer: m, tmpl: t, tracer: tp.Tracer("github.com/kairos-platform/identity/services/notifier/internal/notify"), duration: d}, nil
}

// Handle sends the emails an event calls for (RenderAll). An event with two
// emails sends both again when the second fails: the retry repeats the first
// under the same Message-ID, which mail clients fold.
func (h *Emailer) Handle(ctx context.Context, e events.Event) error {
	msgs, err := h.RenderAll(e)
	if err != nil {
		return err
	}
	for _, msg := range msgs {
		if err := h.send(ctx, e, msg); err != nil {
			return err
		}
	}
	return nil
}

func (h *Emailer) send(ctx context.Context, e events.Event, msg Email) error {
	ctx, span := h.tracer.Start(ctx, "smtp send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("email.template", msg.Template), attribute.String("event.id", e.ID)))
	defer span.End()
	start := time.Now()
	err := h.mailer.Send(ctx, msg)
	h.duration.WithLabelValues(msg.Template).Observe(time.Since(start).Seconds())
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "send failed")
		return fmt.Errorf("send %s email: %w", msg.Template, err)
	}
	return nil
}

// Render builds the (first) email for e without sending it.
func (h *Emailer) Render(e events.Event) (Email, error) {
	msgs, err := h.RenderAll(e)
	if err != nil {
		return Email{}, err
	}
	return msgs[0], nil
}

// RenderAll builds every email e calls for: one, or for an email change
// the confirmation to the new address and the notice to the old one.
// Invalid recipient data is a permanent error: no retry will make it valid.
func (h *Emailer) RenderAll(e events.Event) ([]Email, error) {
	user := e.User
	data := templateData{VerifyURL: e.VerifyURL}
	var name string
	switch e.Type {
	case events.UserCreated, events.VerificationRequested:
		name, data.ExpiresAt = TemplateVerification, when(e.VerifyExpiresAt)
	case events.SignupDuplicate:
		name = TemplateDuplicateSignup
	case events.LoginAttackSuspected:
		name = TemplateLoginAttack
	case events.PasswordResetRequested:
		name, data.ResetURL, data.ExpiresAt = TemplatePasswordReset, e.ResetURL, when(e.ResetExpiresAt)
	case events.PasswordChanged:
		name = TemplatePasswordChanged
	case events.EmailChangeRequested:
		name, data.ConfirmURL, data.ExpiresAt = TemplateEmailChangeConfirm, e.ConfirmURL, when(e.ConfirmExpiresAt)
		user.Email = e.NewEmail
	case events.UserDeleted:
		name = TemplateGoodbye
	default:
		return nil, Permanent(fmt.Errorf("no email for event type %q", e.Type))
	}
	first, err := h.render(e.ID, name, user, data)
	if err != nil {
		return nil, err
	}
	msgs := []Email{first}
	if e.Type == events.EmailChangeRequested {
		// The notice names the new address only by its domain: the mailbox
		// of the old one may no longer be the owner's.
		data.NewEmail = maskEmail(e.NewEmail)
		notice, err := h.render(e.ID+".notice", TemplateEmailChangeNotice, e.User, data)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, notice)
	}
	return msgs, nil
}

func (h *Emailer) render(id, name string, u events.User, data templateData) (Email, error) {
	to, err := recipient(u)
	if err != nil {
		return Email{}, Permanent(err)
	}
	data.Username = to.Name
	msg := Email{Template: name, Subject: h.cfg.Subjects[name], From: h.cfg.From, To: to, MessageID: MessageID(id, h.cfg.From.Email)}
	if msg.Text, msg.HTML, err = h.tmpl.render(name, data); err != nil {
		return Email{}, Permanent(err)
	}
	return msg, nil
}

func when(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("Monday, 2 January 2006 at 15:04 MST")
}

// maskEmail keeps an address's first letter and its domain: enough for the
// owner to recognise it, little for anyone else.
func maskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	return local[:1] + "***@" + domain
}

// Syncer keeps the Agent's users in step: creation, email change, deletion.
type Syncer struct {
	client   AgentClient
	synced   []string
	tracer   trace.Tracer
	duration prometheus.Histogram
}

// NewSyncer returns the agent handler for the synced subjects (a subset of
// AgentSubjects; events of other types need nothing). It registers
// kairos_agent_sync_duration_seconds on reg.
func NewSyncer(c AgentClient, synced []string, tp trace.TracerProvider, reg prometheus.Registerer) (*Syncer, error) {
	d := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kairos_agent_sync_duration_seconds",
		Help:    "Time of one Agent call (create, update or delete a user), successful or not.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	if err := reg.Register(d); err != nil {
		return nil, err
	}
	return &Syncer{client: c, synced: synced, tracer: tp.Tracer("github.com/kairos-platform/identity/services/notifier/internal/notify"), duration: d}, nil
}

// Handle creates, updates or deletes the user of a synced event; other
// events need nothing.
func (s *Syncer) Handle(ctx context.Context, e events.Event) error {
	if !slices.Contains(s.synced, e.Type) {
		return nil
	}
	var call func(context.Context) error
	op := "create"
	switch e.Type {
	case events.UserCreated:
		call = func(ctx context.Context) error { return s.client.CreateUser(ctx, e.User) }
	case events.EmailChanged:
		op, call = "update", func(ctx context.Context) error { return s.client.UpdateUser(ctx, e.User) }
	case events.UserDeleted:
		op, call = "delete", func(ctx context.Context) error { return s.client.DeleteUser(ctx, e.User.UID) }
	default:
		return nil
	}
	ctx, span := s.tracer.Start(ctx, "agent "+op+" user", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("user.uid", e.User.UID), attribute.String("event.id", e.ID)))
	defer span.End()
	start := time.Now()
	err := call(ctx)
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
