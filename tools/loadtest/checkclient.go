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
	"strconv"
	"time"
)

// checkClient asks GET /api/auth/check over a pool of kept-alive HTTP/1.1
// connections, with each token's request written out once beforehand. The
// load generator shares the cores with auth-api, and net/http's client
// spends several goroutine hand-offs and allocations per request; this one
// is a write and a read of a few hundred bytes. It reads the status line
// and the headers in full, so every answer is checked, not assumed: a pass
// is a 200 carrying the token's own X-User-ID.
type checkClient struct {
	addr  string
	conns chan *checkConn
}

// checkRequest is one token's request and the uid its answer must carry.
type checkRequest struct {
	raw []byte
	uid string
}

type checkConn struct {
	c  net.Conn
	br *bufio.Reader
}

func newCheckClient(base string, conns int) (*checkClient, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("check client: %q is not an http:// URL", base)
	}
	cc := &checkClient{addr: u.Host, conns: make(chan *checkConn, conns)}
	for range conns {
		cc.conns <- &checkConn{}
	}
	return cc, nil
}

func (cc *checkClient) request(token, uid string) checkRequest {
	return checkRequest{uid: uid, raw: []byte("GET /api/auth/check HTTP/1.1\r\nHost: " + cc.addr +
		"\r\nUser-Agent: kairos-loadtest\r\nAuthorization: Bearer " + token + "\r\n\r\n")}
}

// close ends the pool's connections.
func (cc *checkClient) close() {
	for range cap(cc.conns) {
		if c := <-cc.conns; c.c != nil {
			_ = c.c.Close()
		}
	}
}

// check sends req on a pooled connection (dialled when it has none, dropped
// on any error or Connection: close) and returns the answer's status and
// X-User-ID.
func (cc *checkClient) check(ctx context.Context, req checkRequest) (int, string, error) {
	c := <-cc.conns
	defer func() { cc.conns <- c }()
	if c.c == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", cc.addr)
		if err != nil {
			return 0, "", err
		}
		c.c, c.br = conn, bufio.NewReaderSize(conn, 4096)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(dl)
	} else {
		_ = c.c.SetDeadline(time.Time{})
	}
	st, uid, keep, err := roundTrip(c.c, c.br, req.raw)
	if err != nil || !keep {
		_ = c.c.Close()
		c.c, c.br = nil, nil
	}
	return st, uid, err
}

// roundTrip writes raw and reads one HTTP/1.1 answer with a Content-Length
// body (the check's are empty or a short JSON message), which it discards.
func roundTrip(w io.Writer, br *bufio.Reader, raw []byte) (status int, uid string, keep bool, err error) {
	if _, err := w.Write(raw); err != nil {
		return 0, "", false, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, "", false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, "", false, fmt.Errorf("check client: status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, "", false, fmt.Errorf("check client: status line %q", line)
	}
	length, keep := -1, true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, "", false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, "", false, fmt.Errorf("check client: header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, "", false, fmt.Errorf("check client: Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("X-User-Id")):
			uid = string(value)
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, "", false, errors.New("check client: a chunked answer (the check's are never)")
		}
	}
	if length < 0 {
		return 0, "", false, errors.New("check client: an answer without Content-Length")
	}
	if _, err := br.Discard(length); err != nil {
		return 0, "", false, err
	}
	return status, uid, keep, nil
}
