// Package smtp sends the notifier's emails over SMTP with wneessen/go-mail,
// keeping a small pool of long-lived connections so a backlog does not pay a
// TCP and TLS handshake per message. A message on a pooled connection costs
// two round trips when the server offers PIPELINING (envelope, then body;
// see sendPipelined) and four otherwise: instead of go-mail's NOOP before
// each message and RSET after it, a pooled connection is checked by peeking
// at its socket, which needs no round trip (see alive).
package smtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"syscall"
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
	client  *gomail.Client // holds the settings; dials the pooled connections
	timeout time.Duration  // per command
	idle    chan *conn
	slots   chan struct{}
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
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout), gomail.WithHELO("localhost"),
		// A message ends its transaction (RFC 5321 4.1.1.4), so no RSET is
		// needed after it; the NOOP before it is take's check.
		gomail.WithoutNoop(), gomail.WithoutRset()}
	switch cfg.TLS {
	case TLSStartTLS, "":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithDialContextFunc(dial))
	case TLSImplicit:
		// go-mail dials TLS itself: with a dialer of ours it would not know
		// the connection is encrypted and refuse PLAIN and LOGIN. These
		// connections are checked with a NOOP (take).
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithDialContextFunc(dial))
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
	return &Mailer{client: c, timeout: cfg.Timeout, idle: make(chan *conn, cfg.PoolSize), slots: make(chan struct{}, cfg.PoolSize)}, nil
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

	c := m.take()
	for {
		fresh := c == nil
		if fresh {
			if c, err = m.dial(ctx); err != nil {
				return classify(fmt.Errorf("smtp dial: %w", err))
			}
		}
		var keep bool
		keep, err = m.send(ctx, c, msg)
		if keep && ctx.Err() == nil {
			m.put(c)
		} else {
			_ = c.client.Close()
		}
		if !fresh && errors.Is(err, errClosedBefore) && ctx.Err() == nil {
			// A pooled connection the server closed just as it was taken.
			c = nil
			continue
		}
		if err != nil {
			return classify(err)
		}
		return nil
	}
}

// send runs one transaction on c; keep says whether c can take another.
func (m *Mailer) send(ctx context.Context, c *conn, msg *gomail.Msg) (keep bool, err error) {
	// go-mail takes no context per send; closing the connection is what
	// unblocks a send when the notifier shuts down.
	stop := context.AfterFunc(ctx, func() { _ = c.client.Close() })
	defer stop()
	if ok, _ := c.client.Extension("PIPELINING"); ok {
		return sendPipelined(c.client, m.timeout, msg)
	}
	err = m.client.SendWithSMTPClient(c.client, msg)
	// On a reply code go-mail has reset the transaction.
	return err == nil || replyCode(err) != 0, err
}

// conn is a pooled SMTP session and the socket under it.
type conn struct {
	client *gosmtp.Client
	sock   net.Conn // the TCP connection, under STARTTLS if any; nil for implicit TLS
}

// dial opens a session. The dialer hands the socket back through ctx.
func (m *Mailer) dial(ctx context.Context) (*conn, error) {
	var sock net.Conn
	client, err := m.client.DialToSMTPClientWithContext(context.WithValue(ctx, socketKey{}, &sock))
	if err != nil {
		return nil, err
	}
	return &conn{client: client, sock: sock}, nil
}

type socketKey struct{}

// dial is go-mail's dialer for plain and STARTTLS connections: TCP,
// recording the socket where Mailer.dial asked for it.
func dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	sock, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if p, ok := ctx.Value(socketKey{}).(*net.Conn); ok {
		*p = sock
	}
	return sock, nil
}

// alive reports whether an idle connection can take a message: the server
// has neither closed it nor sent anything (such as a 421 before closing).
// It peeks at the socket without blocking, as a NOOP would check it but
// without the round trip; a server that vanished without closing is caught
// by the command timeout, as the NOOP would have been.
func alive(sock net.Conn) bool {
	sc, ok := sock.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	if err := raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read (EAGAIN) is the only good answer: 0 bytes is
		// the server's close, data an unsolicited reply (421 and close).
		ok = errors.Is(err, syscall.EAGAIN)
		return true
	}); err != nil {
		return false
	}
	return ok
}

// Close closes the idle connections.
func (m *Mailer) Close() error {
	for {
		select {
		case c := <-m.idle:
			_ = m.client.CloseWithSMTPClient(c.client)
		default:
			return nil
		}
	}
}

// take returns an idle connection that is still alive, or nil. One whose
// socket is not known (implicit TLS) is checked with a NOOP.
func (m *Mailer) take() *conn {
	for {
		select {
		case c := <-m.idle:
			if !m.usable(c) {
				_ = c.client.Close()
				continue
			}
			return c
		default:
			return nil
		}
	}
}

func (m *Mailer) usable(c *conn) bool {
	if c.sock != nil {
		return alive(c.sock)
	}
	return c.client.UpdateDeadline(m.timeout) == nil && c.client.Noop() == nil
}

func (m *Mailer) put(c *conn) {
	select {
	case m.idle <- c:
	default:
		_ = c.client.Close()
	}
}

// classify wraps 5xx replies as permanent; everything else stays temporary.
func classify(err error) error {
	if code := replyCode(err); code >= 500 && code < 600 {
		return notify.Permanent(err)
	}
	return err
}

// replyCode is the server's reply code in err, 0 when it did not answer.
func replyCode(err error) int {
	if se, ok := errors.AsType[*gomail.SendError](err); ok {
		return se.ErrorCode()
	}
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		return te.Code
	}
	return 0
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
