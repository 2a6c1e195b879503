package httpapi_test

import (
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// owasp is the production default: what a real login costs.
var owasp = passhash.Params{MemoryKiB: passhash.MinMemoryKiB, Time: passhash.MinTime, Parallelism: passhash.MinParallelism}

// BenchmarkLogin measures a successful login through the whole handler
// (decode, validate, throttle lookup, account lookup, argon2id check,
// throttle reset, encode) against real PostgreSQL.
func BenchmarkLogin(b *testing.B) {
	for _, c := range []struct {
		name string
		p    passhash.Params
	}{{"owasp", owasp}, {"cheap-hash", cheap}} {
		b.Run(c.name, func(b *testing.B) {
			h := newHarnessWith(b, c.p)
			h.signup(b, "bench", "bench@example.com", goodPassword)
			h.do(b, request{method: "GET", path: "/api/verify/" + h.lastToken(b) + "/"})
			rq := loginReq("bench@example.com", goodPassword)
			b.ReportAllocs()
			for b.Loop() {
				if rec := h.do(b, rq); rec.Code != 200 {
					b.Fatalf("login: %d %s", rec.Code, body(rec))
				}
			}
		})
	}
}

// BenchmarkLoginUnknownEmail is the same work for an address without an
// account (the dummy hash): compare with BenchmarkLogin/owasp.
func BenchmarkLoginUnknownEmail(b *testing.B) {
	h := newHarnessWith(b, owasp)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// A new address each time, so the lockout never kicks in.
		rq := loginReq("nobody"+string(rune('a'+i%26))+"@example.com", goodPassword)
		if rec := h.do(b, rq); rec.Code != 401 && rec.Code != 429 {
			b.Fatalf("login: %d %s", rec.Code, body(rec))
		}
	}
}

// BenchmarkVerify measures the verify handler: a repeated click on a used
// link (the conditional UPDATE misses, the state is read) and an unknown
// token.
func BenchmarkVerify(b *testing.B) {
	h := newHarnessWith(b, cheap)
	h.signup(b, "bench", "bench@example.com", goodPassword)
	tok := h.lastToken(b)
	h.do(b, request{method: "GET", path: "/api/verify/" + tok + "/"})
	b.Run("already-verified", func(b *testing.B) {
		rq := request{method: "GET", path: "/api/verify/" + tok + "/"}
		b.ReportAllocs()
		for b.Loop() {
			if rec := h.do(b, rq); rec.Code != 200 {
				b.Fatalf("verify: %d %s", rec.Code, body(rec))
			}
		}
	})
	b.Run("unknown-token", func(b *testing.B) {
		rq := request{method: "GET", path: "/api/verify/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/"}
		b.ReportAllocs()
		for b.Loop() {
			if rec := h.do(b, rq); rec.Code != 400 {
				b.Fatalf("verify: %d %s", rec.Code, body(rec))
			}
		}
	})
}

// BenchmarkRefusal measures the CPU of one refused login through the whole
// handler (middleware, route, per-IP bucket, gate, the answer and its
// counters) with the hold off: what the service spends per request a flood
// sends beyond what it can hash. "after-body" is a refusal that comes only
// after the body was read and checked, as one from the domain would.
func BenchmarkRefusal(b *testing.B) {
	for _, c := range []struct {
		name string
		opt  option
		rq   request
	}{
		{"overloaded", func(o *httpapi.Options) { o.Gate = closedGate{} }, loginReq("someone@example.com", goodPassword)},
		{"rate-limited", func(o *httpapi.Options) { o.Limiter = httpapi.NewIPLimiter(1e-6, 1, nil) }, loginReq("someone@example.com", goodPassword)},
		{"after-body", func(o *httpapi.Options) { o.Auth = fakeAuth{err: auth.ErrOverloaded} }, loginReq("someone@example.com", goodPassword)},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := newHarness(b, c.opt)
			h.do(b, c.rq) // the rate limiter's first request is allowed
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				if rec := h.do(b, c.rq); rec.Code != 503 && rec.Code != 429 {
					b.Fatalf("refusal: %d %s", rec.Code, body(rec))
				}
			}
			// CPU rather than wall time: on a shared machine the wall time
			// per refusal mostly measures the neighbours.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time of the test process so far (the garbage
// collector's included: it is part of what a refusal costs).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkVerifyParallel is the load tool's verify scenario in miniature:
// 16 clients repeating clicks on used links through the handler at once,
// so that a CPU profile shows auth-api's own share next to the waits.
func BenchmarkVerifyParallel(b *testing.B) {
	h := newHarnessWith(b, cheap)
	h.signup(b, "bench", "bench@example.com", goodPassword)
	tok := h.lastToken(b)
	h.do(b, request{method: "GET", path: "/api/verify/" + tok + "/"})
	b.SetParallelism(8) // × GOMAXPROCS clients
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "http://localhost:8080/api/verify/"+tok+"/", nil)
			rec := httptest.NewRecorder()
			h.handler.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Errorf("verify: %d %s", rec.Code, rec.Body)
				return
			}
		}
	})
}
