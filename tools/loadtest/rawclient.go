package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// rawClient speaks HTTP/1.1 to auth-api over a pool of kept-alive
// connections: the check scenario's GET /api/auth/check, with each token's
// request written out once beforehand, and the refresh scenario's POSTs. The
// load generator shares the cores with auth-api, and net/http's client
// spends several goroutine hand-offs and allocations per request; this one
// is a write and a read of a few hundred bytes. It reads the status line
// and the headers in full, so every answer is checked, not assumed: a check
// passes as a 200 carrying the token's own X-User-ID.
type rawClient struct {
	addr  string
	conns chan *rawConn
}

// checkRequest is one token's request and the uid its answer must carry.
type checkRequest struct {
	raw []byte
	uid string
}

type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func newRawClient(base string, conns int) (*rawClient, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("raw client: %q is not an http:// URL", base)
	}
	cc := &rawClient{addr: u.Host, conns: make(chan *rawConn, conns)}
	for range conns {
		cc.conns <- &rawConn{}
	}
	return cc, nil
}

func (cc *rawClient) request(token, uid string) checkRequest {
	return checkRequest{uid: uid, raw: []byte("GET /api/auth/check HTTP/1.1\r\nHost: " + cc.addr +
		"\r\nUser-Agent: kairos-loadtest\r\nAuthorization: Bearer " + token + "\r\n\r\n")}
}

// close ends the pool's connections.
func (cc *rawClient) close() {
	for range cap(cc.conns) {
		if c := <-cc.conns; c.c != nil {
			_ = c.c.Close()
		}
	}
}

// check sends req on a pooled connection and returns the answer's status
// and X-User-ID.
func (cc *rawClient) check(ctx context.Context, req checkRequest) (int, string, error) {
	a, err := cc.do(ctx, req.raw, nil)
	return a.status, a.uid, err
}

// post sends a JSON body to path on a pooled connection; the answer's body
// is appended to buf[:0]. A refresh costs auth-api about 0.35 ms of CPU, and
// net/http's client cost the generator half as much again.
func (cc *rawClient) post(ctx context.Context, path string, body, buf []byte) (answer, error) {
	raw := make([]byte, 0, 160+len(body))
	raw = append(raw, "POST "+path+" HTTP/1.1\r\nHost: "+cc.addr+
		"\r\nUser-Agent: kairos-loadtest\r\nContent-Type: application/json\r\nContent-Length: "...)
	raw = strconv.AppendInt(raw, int64(len(body)), 10)
	raw = append(raw, "\r\n\r\n"...)
	raw = append(raw, body...)
	return cc.do(ctx, raw, buf[:0])
}

// answer is what roundTrip read of one HTTP/1.1 answer.
type answer struct {
	status     int
	uid        string // X-User-ID
	retryAfter bool   // a Retry-After header came
	keep       bool   // the connection stays open
	body       []byte // nil when discarded
}

// do writes raw on a pooled connection (dialled when it has none, dropped on
// any error or Connection: close) and reads the answer; its body is appended
// to body when body is not nil, discarded otherwise.
func (cc *rawClient) do(ctx context.Context, raw, body []byte) (answer, error) {
	c := <-cc.conns
	defer func() { cc.conns <- c }()
	if c.c == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", cc.addr)
		if err != nil {
			return answer{}, err
		}
		c.c, c.br = conn, bufio.NewReaderSize(conn, 4096)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(dl)
	} else {
		_ = c.c.SetDeadline(time.Time{})
	}
	a, err := roundTrip(c.c, c.br, raw, body)
	if err != nil || !a.keep {
		_ = c.c.Close()
		c.c, c.br = nil, nil
	}
	return a, err
}

// roundTrip writes raw and reads one HTTP/1.1 answer with a Content-Length
// body (auth-api's answers are short and never chunked), which it appends to
// body, or discards when body is nil.
func roundTrip(w io.Writer, br *bufio.Reader, raw, body []byte) (answer, error) {
	if _, err := w.Write(raw); err != nil {
		return answer{}, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return answer{}, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return answer{}, fmt.Errorf("raw client: status line %q", line)
	}
	a := answer{keep: true}
	if a.status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return answer{}, fmt.Errorf("raw client: status line %q", line)
	}
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return answer{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return answer{}, fmt.Errorf("raw client: header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return answer{}, fmt.Errorf("raw client: Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("X-User-Id")):
			a.uid = string(value)
		case bytes.EqualFold(name, []byte("Retry-After")):
			a.retryAfter = true
		case bytes.EqualFold(name, []byte("Connection")):
			a.keep = !bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return answer{}, errors.New("raw client: a chunked answer (auth-api's are never)")
		}
	}
	if length < 0 {
		return answer{}, errors.New("raw client: an answer without Content-Length")
	}
	if body == nil {
		_, err := br.Discard(length)
		return a, err
	}
	n := len(body)
	body = slices.Grow(body, length)[:n+length]
	if _, err := io.ReadFull(br, body[n:]); err != nil {
		return answer{}, err
	}
	a.body = body
	return a, nil
}
