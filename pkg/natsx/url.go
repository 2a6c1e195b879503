package natsx

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Redact removes credentials (user, password, token) from a NATS URL or a
// comma-separated list of them and keeps everything else, so a log line
// still says which server was meant. It never returns what stood before an
// '@' in a server's authority, even for input it cannot parse.
func Redact(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		scheme, rest := "", p
		if j := strings.Index(p, "://"); j >= 0 {
			scheme, rest = p[:j+3], p[j+3:]
		}
		authority, tail := rest, ""
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			authority, tail = rest[:j], rest[j:]
		}
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			authority = authority[at+1:]
		}
		parts[i] = scheme + authority + tail
	}
	return strings.Join(parts, ",")
}

var schemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// ValidateURL accepts what nats.Connect is meant to get here: one URL or a
// comma-separated list, each nats://, tls://, ws:// or wss:// with a host
// (and a numeric port if any). The error quotes the input with credentials
// removed and names no variable: the caller knows which one it read.
func ValidateURL(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty; want nats://host:port")
	}
	for _, p := range strings.Split(s, ",") {
		if err := validateOne(strings.TrimSpace(p)); err != nil {
			return fmt.Errorf("%q %w", Redact(p), err)
		}
	}
	return nil
}

func validateOne(p string) error {
	bad := errors.New("is not a nats://, tls://, ws:// or wss:// URL with a host (e.g. nats://127.0.0.1:4222)")
	u, err := url.Parse(p)
	if err != nil || !schemes[strings.ToLower(u.Scheme)] || u.Hostname() == "" || u.Opaque != "" {
		return bad
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errors.New("has a port that is not a number from 1 to 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("has an empty port")
	}
	return nil
}
