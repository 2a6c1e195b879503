package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
)

// Checks take the short way unless traced: the same answers, headers and
// counts either way; a span only for a check carrying trace context, as a
// child of the caller's; no log line for any check; and CORS never answers
// for the check (a preflight is not a pass).
func TestCheckShortAndTracedWays(t *testing.T) {
	t.Parallel()
	exp, tp := recordSpans(t)
	h := newHarness(t, func(o *httpapi.Options) {
		o.TracerProvider = tp
		o.CORSOrigins = []string{"https://app.example.com"}
	})
	login := h.signedIn(t, "ada@example.com")
	exp.Reset()
	logsBefore := len(h.logs.String())

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name, method, path, token string
		header                    http.Header
		want                      int
		wantSpan                  string // "" for none
	}{
		{"valid", "GET", "/api/auth/check", login.AccessToken, nil, 200, ""},
		{"valid, trailing slash", "GET", "/api/auth/check/", login.AccessToken, nil, 200, ""},
		{"valid, forwarded path", "POST", "/api/auth/check/agent/v1/chat?q=1", login.AccessToken, nil, 200, ""},
		{"forged", "GET", "/api/auth/check", login.AccessToken + "x", nil, 401, ""},
		{"no token", "GET", "/api/auth/check", "", nil, 401, ""},
		{"valid, traced", "GET", "/api/auth/check", login.AccessToken, http.Header{"Traceparent": {parent}}, 200, "GET /api/auth/check/"},
		{"forged, traced", "GET", "/api/auth/check/agent", login.AccessToken + "x", http.Header{"Traceparent": {parent}}, 401, "GET /api/auth/check/{forwarded:.+}"},
		{"CORS preflight", "OPTIONS", "/api/auth/check", "", http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"GET"}}, 401, ""},
		{"CORS preflight, traced", "OPTIONS", "/api/auth/check", "", http.Header{"Origin": {"https://app.example.com"},
			"Access-Control-Request-Method": {"GET"}, "Traceparent": {parent}}, 401, "OPTIONS /api/auth/check/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			hdr := http.Header{}
			for k, v := range tt.header {
				hdr[k] = v
			}
			if tt.token != "" {
				hdr.Set("Authorization", "Bearer "+tt.token)
			}
			rec := h.do(t, request{method: tt.method, path: tt.path, header: hdr})
			got := rec.Header()
			if rec.Code != tt.want || got.Get("Cache-Control") != "no-store" || got.Get("X-Content-Type-Options") != "nosniff" ||
				got.Get("X-Request-Id") == "" || got.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("%d %v", rec.Code, got)
			}
			if ok := tt.want == 200; ok != (got.Get("X-User-ID") == login.AuthID) || ok == (got.Get("WWW-Authenticate") == "Bearer") {
				t.Fatalf("%d with X-User-ID %q, WWW-Authenticate %q", rec.Code, got.Get("X-User-ID"), got.Get("WWW-Authenticate"))
			}
			var server []string
			for _, s := range exp.GetSpans() {
				if s.SpanKind == trace.SpanKindServer {
					server = append(server, s.Name)
					if s.Parent.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
						t.Errorf("span %q is not in the caller's trace", s.Name)
					}
				}
			}
			if want := []string{tt.wantSpan}; tt.wantSpan == "" && len(server) != 0 || tt.wantSpan != "" && strings.Join(server, ",") != want[0] {
				t.Fatalf("server spans %v, want %q", server, tt.wantSpan)
			}
		})
	}
	if logs := h.logs.String()[logsBefore:]; strings.Contains(logs, "/api/auth/check") {
		t.Fatalf("checks were logged:\n%s", logs)
	}
	for result, want := range map[string]float64{"ok": 4, "invalid": 5} {
		if got := h.metric(t, "kairos_auth_checks_total", map[string]string{"result": result}); got != want {
			t.Errorf("kairos_auth_checks_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := h.metric(t, "http_server_request_duration_seconds", map[string]string{"method": "GET", "route": "/api/auth/check/", "code": "200"}); got != 3 {
		t.Errorf("duration count of GET checks answered 200 = %v, want 3", got)
	}
}
