// Package smtp sends the notifier's emails over SMTP with wneessen/go-mail,
// keeping a small pool of long-lived connections so a backlog does not pay a
// TCP and TLS handshake per message.
package smtp

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/kairos-platform/identity/services/notifier/internal/notify"
)

// TLSMode is how the connection to the server is encrypted.
type TLSMode string

// The TLS modes; the zero value is TLSStartTLS.
const (
	TLSStartTLS TLSMode = "starttls" // plain connection upgraded with STARTTLS, which the server must offer
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (usually port 465)
	TLSNone     TLSMode = "none"     // no encryption (local mail catchers only)
)

// Config is how to reach the SMTP server.
type Config struct {
	Host     string
	Port     int
	Username string // auth only when set
	Password string
	TLS      TLSMode
	// Timeout bounds the dial and then every SMTP command, so a hanging
	// server costs at most this much per command before the message is
	// retried.
	Timeout time.Duration
	// PoolSize is how many connections may be open at once; sends beyond it
	// wait for a free connection.
	PoolSize int
}

// Mailer implements notify.Mailer.
type Mailer struct {
	client *gomail.Client // holds the settings; dials the pooled connections
	idle   chan *gosmtp.Client
	slots  chan struct{}
}

// New validates cfg and returns a Mailer. It does not connect: the first
// send does, so the notifier starts while the SMTP server is away.
func New(cfg Config) (*Mailer, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.PoolSize < 1 {
		cfg.PoolSize = 1
	}
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout), gomail.WithHELO("localhost")}
	switch cfg.TLS {
	case TLSStartTLS, "":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("smtp: unknown TLS mode %q", cfg.TLS)
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	c, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &Mailer{client: c, idle: make(chan *gosmtp.Client, cfg.PoolSize), slots: make(chan struct{}, cfg.PoolSize)}, nil
}

// Send delivers e on a pooled connection. SMTP 5xx replies and messages
// that cannot be built are permanent (notify.ErrPermanent); 4xx replies,
// timeouts and connection errors are temporary.
func (m *Mailer) Send(ctx context.Context, e notify.Email) error {
	msg, err := build(e)
	if err != nil {
		return notify.Permanent(err)
	}
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-m.slots }()

	conn := m.take()
	for {
		fresh := conn == nil
		if fresh {
			if conn, err = m.client.DialToSMTPClientWithContext(ctx); err != nil {
				return classify(fmt.Errorf("smtp dial: %w", err))
			}
		}
		// go-mail takes no context per send; closing the connection is what
		// unblocks a send when the notifier shuts down.
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		err = m.client.SendWithSMTPClient(conn, msg)
		stop()
		if err == nil {
			m.put(conn)
			return nil
		}
		var se *gomail.SendError
		isSendErr := errors.As(err, &se)
		if isSendErr && se.Reason == gomail.ErrConnCheck && !fresh {
			// An idle connection the server has since closed: nothing was
			// sent, so dial a new one and try again at once.
			_ = conn.Close()
			conn = nil
			continue
		}
		if isSendErr && se.ErrorCode() != 0 && ctx.Err() == nil {
			// The server answered with a reply code and go-mail reset the
			// transaction, so the connection is still good.
			m.put(conn)
		} else {
			_ = conn.Close()
		}
		return classify(err)
	}
}

// Close closes the idle connections.
func (m *Mailer) Close() error {
	for {
		select {
		case c := <-m.idle:
			_ = m.client.CloseWithSMTPClient(c)
		default:
			return nil
		}
	}
}

func (m *Mailer) take() *gosmtp.Client {
	select {
	case c := <-m.idle:
		return c
	default:
		return nil
	}
}

func (m *Mailer) put(c *gosmtp.Client) {
	select {
	case m.idle <- c:
	default:
		_ = c.Close()
	}
}

// classify wraps 5xx replies as permanent; everything else stays temporary.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return notify.Permanent(err)
	}
	return err
}

// build turns a rendered email into a go-mail message. Addresses go in as
// net/mail values, never as formatted strings; the notify package has
// already removed control characters from names and refused addresses with
// any, and this checks again so no CR or LF can ever start a header.
func build(e notify.Email) (*gomail.Msg, error) {
	for _, a := range []notify.Address{e.From, e.To} {
		if _, err := notify.CleanAddress(a.Email); err != nil {
			return nil, err
		}
	}
	if e.MessageID == "" || notify.HasControl(e.MessageID) || notify.HasControl(e.Subject) {
		return nil, errors.New("message id or subject contains control characters")
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(&mail.Address{Name: notify.CleanName(e.From.Name), Address: e.From.Email})
	msg.ToMailAddress(&mail.Address{Name: notify.CleanName(e.To.Name), Address: e.To.Email})
	msg.Subject(e.Subject)
	msg.SetMessageIDWithValue(e.MessageID)
	msg.SetDate()
	msg.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	msg.SetBodyString(gomail.TypeTextPlain, e.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	return msg, nil
}
