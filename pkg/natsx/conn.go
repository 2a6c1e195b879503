// Package natsx holds the NATS mechanics both services and the tools share:
// one way to connect (reconnect forever, log with credentials removed, wait
// for a drain without polling), URL checks, retries with jittered backoff,
// the trace-context header carrier and the server-version check.
package natsx

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// Options configures Connect. Zero values get sensible defaults.
type Options struct {
	Name   string       // client name shown by the server (connz)
	Logger *slog.Logger // nil: nothing is logged

	// ReconnectWait is the pause between reconnect attempts (default 1s;
	// nats.go adds its own jitter).
	ReconnectWait time.Duration
	// InboxPrefix replaces _INBOX for replies, so the server can let each
	// service subscribe to its own replies only (deploy/examples/nats-accounts.conf).
	InboxPrefix string

	// Extra is appended to the options Connect sets: the credentials and
	// TLS of AuthOptions, or any other nats.Option. Later options win.
	Extra []nats.Option
}

// Conn is a NATS connection that knows when it has closed.
type Conn struct {
	*nats.Conn
	closed chan struct{}
}

// Connect connects to url (a comma-separated server list is fine) and keeps
// reconnecting forever, starting even while no server answers: callers
// report NATS on readiness instead of failing to start. Only a malformed
// URL or option is an error.
func Connect(url string, o Options) (*Conn, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wait := o.ReconnectWait
	if wait <= 0 {
		wait = time.Second
	}
	servers := Redact(url)
	c := &Conn{closed: make(chan struct{})}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(wait),
		nats.ConnectHandler(func(nc *nats.Conn) { logConnected(log, "NATS connected", nc) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: a Close or Drain we asked for
				log.Warn("NATS disconnected", "url", servers, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { logConnected(log, "NATS reconnected", nc) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS async error", "subject", subject, "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
	}
	if o.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(o.InboxPrefix))
	}
	nc, err := nats.Connect(url, append(opts, o.Extra...)...)
	if err != nil {
		return nil, err
	}
	c.Conn = nc
	if nc.IsConnected() { // the ConnectHandler only reports a retried first connect
		logConnected(log, "NATS connected", nc)
	}
	return c, nil
}

// logConnected reports a (re)connect with the server's version, and an
// error line when that version is older than MinServerVersion: the
// connection stays up, but JetStream set-up refuses such a server.
func logConnected(log *slog.Logger, msg string, nc *nats.Conn) {
	log.Info(msg, "url", Redact(nc.ConnectedUrl()), "server_version", nc.ConnectedServerVersion())
	if err := CheckVersion(nc, MinServerVersion); err != nil {
		log.Error("unsupported NATS server", "err", err)
	}
}

// Closed is closed once the connection is closed (after Drain or Close).
func (c *Conn) Closed() <-chan struct{} { return c.closed }

// Drain lets subscriptions finish and publishes flush, then closes the
// connection; it waits for the close or until ctx ends, when it closes the
// connection at once and returns ctx's error. A connection that is not
// connected has nothing to flush and is closed straight away.
func (c *Conn) Drain(ctx context.Context) error {
	err := c.Conn.Drain()
	switch {
	case err == nil:
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionReconnecting):
		// Closed already, or nats.go closed it because it was reconnecting.
		c.Conn.Close()
	default:
		c.Conn.Close()
		return err
	}
	select {
	case <-c.closed:
		return nil
	case <-ctx.Done():
		c.Conn.Close()
		return ctx.Err()
	}
}
