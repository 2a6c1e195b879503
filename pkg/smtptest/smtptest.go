// Package smtptest is an in-process SMTP server that records every message it
// accepts, and can be told to refuse mail temporarily or permanently, or to
// hang without answering, so tests and tools can drive the notifier through
// real SMTP failures. make dev uses it as the local mail catcher.
package smtptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mode is how the server answers MAIL FROM.
type Mode int

const (
	Accept          Mode = iota // record the message
	RefuseTemporary             // 451: the client should retry later
	RefusePermanent             // 550: the client should give up
	Hang                        // never answer until the mode changes or the server closes
)

// Server is a running SMTP sink.
type Server struct {
	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	mode     Mode
	modeCh   chan struct{} // closed and replaced on every mode change
	messages []Message
	parsed   int           // messages[:parsed] have their headers and bodies decoded
	notify   chan struct{} // closed and replaced on every new message
	onMsg    func(Message)
	closed   chan struct{}
	attempts int
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves until Close.
func Start(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen %s: %w", addr, err)
	}
	s := &Server{ln: ln, modeCh: make(chan struct{}), notify: make(chan struct{}), closed: make(chan struct{})}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 10 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	s.srv = srv
	go srv.Serve(ln) //nolint:errcheck // returns when closed
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and releases hanging sessions.
func (s *Server) Close() error {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	return s.srv.Close()
}

// SetMode changes how the server answers from the next command on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
	close(s.modeCh)
	s.modeCh = make(chan struct{})
}

// OnMessage registers a callback run for every accepted message.
func (s *Server) OnMessage(fn func(Message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMsg = fn
}

// Messages returns a copy of every accepted message, in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parseAll()
	return append([]Message(nil), s.messages...)
}

// Count is the number of accepted messages.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.messages)
}

// parseAll decodes the messages received since the last call. Decoding
// waits until someone reads them, so a sink taking thousands of mails per
// second (the load tool's) spends its share of the cores on receiving.
// The caller holds s.mu.
func (s *Server) parseAll() {
	for i := s.parsed; i < len(s.messages); i++ {
		m := &s.messages[i]
		*m = parse(m.From, m.To, m.Raw, m.ReceivedAt)
	}
	s.parsed = len(s.messages)
}

// Attempts counts MAIL FROM commands seen, accepted or not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// WaitFor blocks until at least n messages were accepted or ctx ends.
func (s *Server) WaitFor(ctx context.Context, n int) ([]Message, error) {
	if err := s.WaitForCount(ctx, n); err != nil {
		return nil, err
	}
	return s.Messages(), nil
}

// WaitForCount blocks until at least n messages were accepted or ctx ends,
// without decoding or copying them.
func (s *Server) WaitForCount(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		ch, have := s.notify, len(s.messages)
		s.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("smtptest: %d of %d messages: %w", have, n, ctx.Err())
		}
	}
}

func (s *Server) record(from string, to []string, data []byte) {
	msg := Message{From: from, To: append([]string(nil), to...), Raw: data, ReceivedAt: time.Now()}
	s.mu.Lock()
	fn := s.onMsg
	if fn != nil {
		s.parseAll()
		msg = parse(msg.From, msg.To, msg.Raw, msg.ReceivedAt)
	}
	s.messages = append(s.messages, msg)
	if fn != nil {
		s.parsed = len(s.messages)
	}
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	if fn != nil {
		fn(msg)
	}
}

// gate applies the current mode; Hang waits for a mode change or Close.
func (s *Server) gate() error {
	for {
		s.mu.Lock()
		s.attempts++
		mode, changed := s.mode, s.modeCh
		s.mu.Unlock()
		switch mode {
		case Accept:
			return nil
		case RefuseTemporary:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		case RefusePermanent:
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected"}
		}
		select {
		case <-changed:
			s.mu.Lock()
			s.attempts--
			s.mu.Unlock()
		case <-s.closed:
			return errors.New("server closed")
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string { return []string{"PLAIN"} }

// Auth accepts any PLAIN credentials, so clients configured with a user and
// password can be tested against the sink.
func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(string, string, string) error { return nil }), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if err := x.s.gate(); err != nil {
		return err
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.record(x.from, x.to, data)
	return nil
}

func (x *session) Reset() { x.from, x.to = "", nil }

func (x *session) Logout() error { return nil }
