package smtp

import (
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// sendPipelined sends msg in one transaction with MAIL, RCPT and DATA in one
// write (RFC 2920 PIPELINING) and the body in a second: two round trips
// instead of four. The server must offer PIPELINING. keep says whether the
// connection can take another message: the server answered and the
// transaction is closed.
func sendPipelined(c *gosmtp.Client, timeout time.Duration, msg *gomail.Msg) (keep bool, err error) {
	from, err := msg.GetSender(false)
	if err != nil {
		return true, err
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return true, err
	}
	mailCmd := "MAIL FROM:" + from
	if ok, _ := c.Extension("8BITMIME"); ok {
		mailCmd += " BODY=8BITMIME"
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		mailCmd += " SMTPUTF8"
	}
	cmds := []string{mailCmd}
	for _, r := range rcpts {
		cmds = append(cmds, "RCPT TO:"+r)
	}
	cmds = append(cmds, "DATA")
	for _, cmd := range cmds {
		if strings.ContainsAny(cmd, "\r\n") {
			return true, errors.New("smtp: CR or LF in an envelope address")
		}
	}
	if err := c.UpdateDeadline(timeout); err != nil {
		return false, err
	}

	t := c.Text
	for _, cmd := range cmds {
		_, _ = t.W.WriteString(cmd + "\r\n")
	}
	if err := t.W.Flush(); err != nil {
		return false, closedBefore(fmt.Errorf("smtp envelope: %w", err))
	}
	// One reply per command, in order; the first refusal answers for the
	// transaction. A read error means the connection is gone.
	var refused error
	for i, cmd := range cmds {
		want := 250
		switch {
		case i == len(cmds)-1:
			want = 354
		case i > 0:
			want = 25 // 250 or 251
		}
		if _, _, err := t.ReadResponse(want); err != nil {
			if _, ok := errors.AsType[*textproto.Error](err); !ok {
				err = fmt.Errorf("smtp %s: %w", verb(cmd), err)
				if i == 0 {
					// Not even MAIL was answered: nothing was taken.
					err = closedBefore(err)
				}
				return false, err
			}
			if refused == nil {
				refused = fmt.Errorf("smtp %s: %w", verb(cmd), err)
			}
		} else if i == len(cmds)-1 && refused != nil {
			// DATA accepted after a refused envelope (should not happen
			// with one recipient): drop the connection rather than send.
			return false, refused
		}
	}
	if refused != nil {
		// The transaction is open on the server's side: reset it, so the
		// connection can carry the next message.
		id, err := t.Cmd("RSET")
		if err != nil {
			return false, refused
		}
		// Cmd sequences its request; its response must be sequenced too, or
		// go-mail's next command waits for it forever.
		t.StartResponse(id)
		_, _, err = t.ReadResponse(250)
		t.EndResponse(id)
		return err == nil, refused
	}

	w := t.DotWriter()
	if _, err := msg.WriteTo(w); err != nil {
		_ = w.Close()
		return false, fmt.Errorf("smtp body: %w", err)
	}
	if err := w.Close(); err != nil {
		return false, fmt.Errorf("smtp body: %w", err)
	}
	if _, _, err := t.ReadResponse(250); err != nil {
		_, replied := errors.AsType[*textproto.Error](err)
		return replied, fmt.Errorf("smtp end of data: %w", err)
	}
	return true, nil
}

// verb is a command's first word, for errors (never the addresses).
func verb(cmd string) string {
	v, _, _ := strings.Cut(cmd, " ")
	return v
}

// errClosedBefore marks a send that found its connection closed before the
// server answered anything: nothing was delivered, so it can be sent again
// at once on a fresh connection.
var errClosedBefore = errors.New("connection closed before the server answered")

// closedBefore marks err with errClosedBefore unless it is a timeout (a
// server that hangs is not helped by another connection right away).
func closedBefore(err error) error {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return err
	}
	return fmt.Errorf("%w: %w", errClosedBefore, err)
}
