package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
)

func TestClientIP(t *testing.T) {
	c := httpapi.ClientIP{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"untrusted peer's X-Forwarded-For is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted proxy", "10.0.0.2:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops", "10.0.0.2:80", []string{"198.51.100.1, 10.1.1.1"}, "198.51.100.1"},
		{"spoofed left-most entry is not believed", "10.0.0.2:80", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"several headers", "10.0.0.2:80", []string{"1.2.3.4", "198.51.100.1"}, "198.51.100.1"},
		{"garbage stops the walk", "10.0.0.2:80", []string{"198.51.100.1, garbage, 10.1.1.1"}, "10.1.1.1"},
		{"only trusted hops", "10.0.0.2:80", []string{"10.3.3.3"}, "10.3.3.3"},
		{"trusted proxy without header", "10.0.0.2:80", nil, "10.0.0.2"},
		{"IPv6", "[fd00::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.2]:80", []string{"198.51.100.9"}, "198.51.100.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.Of(r); got != tt.want {
				t.Fatalf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIPLimiterForgetsIdleClients(t *testing.T) {
	clk := testkit.NewClock(time.Unix(1_700_000_000, 0))
	l := httpapi.NewIPLimiter(1, 2, clk.Now)
	for i := range 1000 {
		if ok, _ := l.Allow("198.51.100." + strconv.Itoa(i)); !ok {
			t.Fatal("a new client was refused")
		}
	}
	if l.Len() != 1000 {
		t.Fatalf("%d buckets", l.Len())
	}
	ok1, _ := l.Allow("a")
	ok2, _ := l.Allow("a")
	ok3, wait := l.Allow("a")
	if !ok1 || !ok2 || ok3 || wait <= 0 || wait > time.Second {
		t.Fatalf("burst 2: %v %v %v (wait %s)", ok1, ok2, ok3, wait)
	}
	// After the idle window the old buckets go: memory follows the clients
	// of the last minute, not every client ever seen.
	clk.Add(time.Minute)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("client still limited after a minute")
	}
	if n := l.Len(); n != 1 {
		t.Fatalf("%d buckets after the idle window, want 1", n)
	}
	if httpapi.NewIPLimiter(0, 10, nil) != nil {
		t.Fatal("rate 0 must turn the limit off (nil limiter)")
	}
}

// The IP limit covers signup, login, resend and verify, keyed by the client
// IP behind a trusted proxy, and is not fooled by a spoofed header.
func TestIPRateLimitBehindProxies(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Unix(1_700_000_000, 0))
	h := newHarness(t, func(o *httpapi.Options) {
		o.Limiter = httpapi.NewIPLimiter(1, 3, clk.Now)
		o.ClientIP = httpapi.ClientIP{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	})
	viaProxy := func(client string, rq request) request {
		rq.remote = "10.0.0.2:4000"
		rq.header = http.Header{"X-Forwarded-For": {client + ", 10.0.0.9"}}
		return rq
	}
	reqs := []request{
		{method: "POST", path: "/api/login/", body: `{"email":"a@b.co","password":"x"}`},
		{method: "POST", path: "/api/signup/", body: `{}`},
		{method: "POST", path: "/api/verify/resend/", body: `{"email":"a@b.co"}`},
		{method: "GET", path: "/api/verify/abc/"},
	}
	// Client A behind the proxy uses its burst of 3 …
	for i := range 3 {
		if rec := h.do(t, viaProxy("198.51.100.1", reqs[i])); rec.Code == 429 {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	// … then every limited route refuses it, with Retry-After.
	for _, rq := range reqs {
		rec := h.do(t, viaProxy("198.51.100.1", rq))
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" || body(rec) != `{"message":"Too many requests. Try again later."}` {
			t.Fatalf("%s %s over the limit: %d %q %s", rq.method, rq.path, rec.Code, rec.Header().Get("Retry-After"), body(rec))
		}
	}
	// Client B behind the same proxy has its own bucket.
	if rec := h.do(t, viaProxy("198.51.100.2", reqs[0])); rec.Code == 429 {
		t.Fatal("another client behind the proxy was limited")
	}
	// A direct, untrusted client cannot escape its bucket by spoofing
	// X-Forwarded-For: every request counts against its own address.
	spoof := func(i int) request {
		rq := reqs[0]
		rq.remote = "203.0.113.5:1234"
		rq.header = http.Header{"X-Forwarded-For": {"192.0.2." + strconv.Itoa(i)}}
		return rq
	}
	for i := range 3 {
		h.do(t, spoof(i))
	}
	if rec := h.do(t, spoof(99)); rec.Code != 429 {
		t.Fatalf("spoofed X-Forwarded-For escaped the limit: %d", rec.Code)
	}
	clk.Add(time.Second)
	if rec := h.do(t, viaProxy("198.51.100.1", reqs[3])); rec.Code != 400 {
		t.Fatalf("still limited after the bucket refilled: %d %s", rec.Code, body(rec))
	}
	if got := h.metric(t, "kairos_logins_total", map[string]string{"result": "rate_limited"}); got != 2 {
		t.Fatalf("rate-limited logins = %v, want 2", got)
	}
}

// fakeAuth answers every call with its err (or panics).
type fakeAuth struct {
	err   error
	panic bool
}

func (f fakeAuth) Signup(context.Context, auth.Signup) (auth.SignupResult, error) {
	if f.panic {
		panic("boom")
	}
	return auth.SignupResult{}, f.err
}
func (f fakeAuth) Login(context.Context, auth.Login) (string, error) { return "", f.err }
func (f fakeAuth) Verify(context.Context, string) (auth.VerifyResult, error) {
	return 0, f.err
}
func (f fakeAuth) Resend(context.Context, string) error                { return f.err }
func (f fakeAuth) Forgot(context.Context, string) error                { return f.err }
func (f fakeAuth) ResetPassword(context.Context, string, string) error { return f.err }
func (f fakeAuth) ChangePassword(context.Context, string, string, auth.Login, string) error {
	return f.err
}
func (f fakeAuth) RequestEmailChange(context.Context, string, auth.Login, string) error { return f.err }
func (f fakeAuth) ConfirmEmail(context.Context, string) error                           { return f.err }
func (f fakeAuth) DeleteAccount(context.Context, string, auth.Login) error              { return f.err }

func TestFailuresBecomeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		auth  fakeAuth
		rq    request
		code  int
		body  string
		retry string
	}{
		{"hash slots exhausted", fakeAuth{err: auth.ErrOverloaded}, loginReq("a@b.co", "x"), 503, `{"message":"The service is busy. Try again shortly."}`, "2"},
		{"database unavailable", fakeAuth{err: fmt.Errorf("%w: dial tcp: connection refused", auth.ErrUnavailable)}, loginReq("a@b.co", "x"), 503, `{"message":"The service is temporarily unavailable. Try again shortly."}`, "2"},
		{"unexpected error", fakeAuth{err: context.DeadlineExceeded}, signupReq("a", "a@b.co"), 500, `{"message":"Internal server error."}`, ""},
		{"panic", fakeAuth{panic: true}, signupReq("a", "a@b.co"), 500, `{"message":"Internal server error."}`, ""},
		{"unexpected error on verify", fakeAuth{err: context.Canceled}, request{method: "GET", path: "/api/verify/abc"}, 500, `{"message":"Internal server error."}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *httpapi.Options) { o.Auth = tt.auth })
			rec := h.do(t, tt.rq)
			if rec.Code != tt.code || body(rec) != tt.body || rec.Header().Get("Retry-After") != tt.retry {
				t.Fatalf("got %d %s (Retry-After %q), want %d %s (%q)", rec.Code, body(rec), rec.Header().Get("Retry-After"), tt.code, tt.body, tt.retry)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatal("no Cache-Control on a failure")
			}
		})
	}
}
