package httpapi_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
)

// switchGate is the real hasher's admission, which the test can close to
// stand for a full one.
type switchGate struct {
	inner httpapi.Gate
	full  atomic.Bool
}

func (g *switchGate) Admit(ctx context.Context) (context.Context, func(), error) {
	if g.full.Load() {
		return ctx, nil, auth.ErrOverloaded
	}
	return g.inner.Admit(ctx)
}

// closedGate refuses everything.
type closedGate struct{}

func (closedGate) Admit(ctx context.Context) (context.Context, func(), error) {
	return ctx, nil, auth.ErrOverloaded
}

func loggedMessages(h *harness, msg string) int {
	n := 0
	for _, l := range h.logs.Lines() {
		if l["msg"] == msg {
			n++
		}
	}
	return n
}

// A refusal is answered before the body is read (a body that is not even
// JSON gets the 503), with Retry-After, is counted, and is not logged one by
// one: one summary line stands for the refusals of the last interval.
func TestRefusalsAreAnsweredBeforeTheBody(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Unix(1_700_000_000, 0))
	h := newHarness(t, func(o *httpapi.Options) { o.Gate = closedGate{}; o.Now = clk.Now })
	reqs := []request{
		loginReq("a@b.co", "x"),
		signupReq("a", "a@b.co"),
		{method: "POST", path: "/api/login/", body: `not json at all`},
		{method: "POST", path: "/api/signup/", body: `{"password": 7`},
	}
	for _, rq := range reqs {
		rec := h.do(t, rq)
		if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" || body(rec) != `{"message":"The service is busy. Try again shortly."}` {
			t.Fatalf("%s %s: %d %q %s, want 503 with Retry-After 2", rq.method, rq.path, rec.Code, rec.Header().Get("Retry-After"), body(rec))
		}
	}
	// Verify and resend hash nothing: the gate does not apply to them.
	if rec := h.do(t, request{method: "GET", path: "/api/verify/abc/"}); rec.Code != 400 {
		t.Fatalf("verify behind a closed gate: %d", rec.Code)
	}
	for _, c := range []struct{ name string }{{"kairos_logins_total"}, {"kairos_signups_total"}} {
		if got := h.metric(t, c.name, map[string]string{"result": "overloaded"}); got != 2 {
			t.Fatalf("%s{overloaded} = %v, want 2", c.name, got)
		}
	}
	if got := h.metric(t, "http_server_request_duration_seconds", map[string]string{"route": "/api/login/", "code": "503"}); got != 2 {
		t.Fatalf("login 503s in the duration histogram = %v, want 2", got)
	}
	if n := loggedMessages(h, "request"); n != 1 { // the verify request only
		t.Fatalf("%d request log lines, want only the verify one:\n%s", n, h.logs.String())
	}
	if n := loggedMessages(h, "requests refused"); n != 1 {
		t.Fatalf("%d refusal summaries, want 1 (the first refusal):\n%s", n, h.logs.String())
	}
	// The next summary comes once the interval has passed, with the count
	// of the refusals since the last one.
	clk.Add(10 * time.Second)
	h.do(t, reqs[0])
	lines := h.logs.Lines()
	last := lines[len(lines)-1]
	if last["msg"] != "requests refused" || last["overloaded"] != float64(4) {
		t.Fatalf("second summary: %v, want 4 refusals (3 since the first summary, and this one)", last)
	}
}

// The per-IP bucket refuses before the gate is asked: a client over its
// limit takes no place in the hashing admission.
func TestRateLimitComesBeforeTheGate(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	h := newHarness(t, func(o *httpapi.Options) {
		o.Limiter = httpapi.NewIPLimiter(1, 1, testkit.NewClock(time.Unix(1_700_000_000, 0)).Now)
		o.Gate = countingGate{&asked}
	})
	h.do(t, loginReq("a@b.co", "x"))
	rec := h.do(t, loginReq("a@b.co", "x"))
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if asked.Load() != 1 {
		t.Fatalf("the gate was asked %d times, want once (the request within the limit)", asked.Load())
	}
}

type countingGate struct{ n *atomic.Int64 }

func (g countingGate) Admit(ctx context.Context) (context.Context, func(), error) {
	g.n.Add(1)
	return ctx, func() {}, nil
}

// A locked account's attempt never reaches the hash: under overload it is
// refused at the gate (no guess is checked, the lock stays); once admitted
// the lock answers before the password is checked.
func TestLockedAccountIsNeverHashedUnderOverload(t *testing.T) {
	t.Parallel()
	gate := &switchGate{}
	h := newHarness(t, func(o *httpapi.Options) { gate.inner = o.Gate; o.Gate = gate })
	for range 5 { // LOGIN_MAX_FAILURES of the harness
		if rec := h.login(t, "victim@example.com", "guess"); rec.Code != 401 {
			t.Fatalf("guess: %d %s", rec.Code, body(rec))
		}
	}
	verifies := func() float64 {
		return h.metric(t, "kairos_password_hash_duration_seconds", map[string]string{"op": "verify"})
	}
	before := verifies()
	gate.full.Store(true)
	for range 3 {
		if rec := h.login(t, "victim@example.com", "guess-again"); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("locked account under overload: %d %q", rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	gate.full.Store(false)
	if rec := h.login(t, "victim@example.com", "guess-again"); rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("locked account after the overload: %d %s", rec.Code, body(rec))
	}
	if got := verifies(); got != before {
		t.Fatalf("%v password checks for a locked account, want none", got-before)
	}
}

// A request whose client went away is answered (to nobody) 499, counted
// as client_closed and logged with status 499: never a 500, never an error
// log line.
func TestHungUpRequestIsCounted499(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "http://localhost:8080/api/login/",
		strings.NewReader(`{"email":"a@b.co","password":"correct-horse-42"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	if rec.Code != 499 {
		t.Fatalf("hung-up login answered %d %s, want 499", rec.Code, body(rec))
	}
	if got := h.metric(t, "kairos_logins_total", map[string]string{"result": "client_closed"}); got != 1 {
		t.Fatalf("logins{client_closed} = %v, want 1", got)
	}
	if got := h.metric(t, "kairos_logins_total", map[string]string{"result": "error"}); got != 0 {
		t.Fatalf("logins{error} = %v, want 0", got)
	}
	if got := h.metric(t, "http_server_request_duration_seconds", map[string]string{"route": "/api/login/", "code": "499"}); got != 1 {
		t.Fatalf("499s in the duration histogram = %v, want 1", got)
	}
	if got := h.metric(t, "http_server_request_duration_seconds", map[string]string{"code": "500"}); got != -1 {
		t.Fatalf("a 500 was counted (%v)", got)
	}
	var logged bool
	for _, l := range h.logs.Lines() {
		if l["level"] == "ERROR" {
			t.Fatalf("hang-up logged as an error: %v", l)
		}
		if l["msg"] == "request" && l["status"] == float64(499) {
			logged = true
		}
	}
	if !logged {
		t.Fatalf("no request line with status 499:\n%s", h.logs.String())
	}
}

// Refused requests are held (the hold ends early when the client hangs
// up), at most MaxHeld at once: beyond that a refusal is answered at once,
// so the hold never holds more than a bounded number of requests.
func TestRefusalHoldIsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *httpapi.Options) {
		o.Gate = closedGate{}
		o.RefusalHold = time.Hour
		o.MaxHeld = 1
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan *httptest.ResponseRecorder)
	go func() {
		req := httptest.NewRequestWithContext(ctx, "POST", "http://localhost:8080/api/login/", strings.NewReader(`{}`))
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		first <- rec
	}()
	testkit.Eventually(t, "the first refusal is held", func() bool {
		return h.metric(t, "kairos_http_refusals_held", nil) == 1
	})
	// The hold is full: this refusal is answered at once.
	if rec := h.do(t, loginReq("a@b.co", "x")); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("refusal beyond the hold: %d %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	cancel() // the held client hangs up
	if rec := <-first; rec.Code != 503 {
		t.Fatalf("held refusal answered %d", rec.Code)
	}
	if got := h.metric(t, "kairos_http_refusals_held", nil); got != 0 {
		t.Fatalf("%v refusals still held", got)
	}
}

// The routes that hash a password besides signup and login (reset, the
// signed-in changes, deletion) go through the same gate, before their body
// or token is read; the routes that hash nothing do not.
func TestRecoveryRoutesTakeTheGate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *httpapi.Options) { o.Gate = closedGate{} })
	for _, rq := range []request{
		{method: "POST", path: "/api/password/reset/", body: `not json`},
		{method: "POST", path: "/api/password/change/", body: `{}`},
		{method: "POST", path: "/api/email/change/", body: `{}`},
		{method: "DELETE", path: "/api/me/", body: `{}`},
	} {
		if rec := h.do(t, rq); rec.Code != 503 || rec.Header().Get("Retry-After") != "2" {
			t.Errorf("%s %s behind a closed gate: %d %q, want 503 with Retry-After 2", rq.method, rq.path, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if got := h.metric(t, "kairos_password_resets_total", map[string]string{"result": "overloaded"}); got != 1 {
		t.Errorf("kairos_password_resets_total{overloaded} = %v, want 1", got)
	}
	if rec := h.do(t, request{method: "POST", path: "/api/password/forgot/", body: `{"email":"a@b.co"}`}); rec.Code != 200 {
		t.Errorf("forgot behind a closed gate: %d %s", rec.Code, body(rec))
	}
}
