package httpapi_test

import (
	"net/http/httptest"
	"testing"
)

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
