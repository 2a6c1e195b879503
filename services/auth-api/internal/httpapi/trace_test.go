package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
)

// recordSpans is a tracer provider keeping every span in memory.
func recordSpans(t *testing.T) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return exp, tp
}

// Server spans are named by the route template and never carry the token
// of a verify link (otelhttp records the path, so it is shown a redacted one).
func TestSpansNamedByRouteWithoutTokens(t *testing.T) {
	t.Parallel()
	exp, tp := recordSpans(t)
	h := newHarness(t, func(o *httpapi.Options) { o.TracerProvider = tp })
	h.signup(t, "a", "a@example.com", goodPassword)
	tok := h.lastToken(t)
	h.do(t, request{method: "GET", path: "/api/verify/" + tok + "?utm=" + tok})
	h.do(t, request{method: "GET", path: "/nowhere/" + tok})

	spans := exp.GetSpans()
	var names []string
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindServer {
			names = append(names, s.Name)
		}
		for _, a := range s.Attributes {
			if v := a.Value.Emit(); strings.Contains(v, tok) || strings.Contains(v, goodPassword) {
				t.Errorf("span %q attribute %s carries a secret: %s", s.Name, a.Key, v)
			}
		}
	}
	if strings.Join(names, ",") != "POST /api/signup/,GET /api/verify/{token}/,GET" {
		t.Fatalf("span names %v, want method and route template (only the method for an unmatched path)", names)
	}
}

// The argon2id work of a signup and of a login is in the trace: the wait for
// a slot, then the hash, one after the other under the request's span, with
// the parameters and the wait, never the password.
func TestHashSpansUnderTheRequest(t *testing.T) {
	t.Parallel()
	exp, tp := recordSpans(t)
	h := newHarness(t, func(o *httpapi.Options) { o.TracerProvider = tp })

	tests := []struct {
		name, path, body string
		wantHTTP, op     string
	}{
		{"signup", "/api/signup/", `{"username":"a","email":"a@example.com","password":"` + goodPassword + `"}`, "POST /api/signup/", "hash"},
		{"login", "/api/login/", `{"email":"a@example.com","password":"` + goodPassword + `"}`, "POST /api/login/", "verify"},
		{"login of an unknown email", "/api/login/", `{"email":"b@example.com","password":"` + goodPassword + `"}`, "POST /api/login/", "verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			h.do(t, request{method: "POST", path: tt.path, body: tt.body})
			spans := exp.GetSpans()
			var server, wait, hash *tracetest.SpanStub
			for i := range spans {
				switch s := &spans[i]; s.Name {
				case tt.wantHTTP:
					server = s
				case "password " + tt.op + " wait":
					wait = s
				case "argon2id " + tt.op:
					hash = s
				}
				for _, a := range spans[i].Attributes {
					if strings.Contains(a.Value.Emit(), goodPassword) {
						t.Errorf("span %q attribute %s carries the password", spans[i].Name, a.Key)
					}
				}
			}
			if server == nil || wait == nil || hash == nil {
				t.Fatalf("spans %v: want %q with a wait and a hash span", spanNames(spans), tt.wantHTTP)
			}
			for _, s := range []*tracetest.SpanStub{wait, hash} {
				if s.Parent.SpanID() != server.SpanContext.SpanID() || s.SpanContext.TraceID() != server.SpanContext.TraceID() {
					t.Errorf("span %q is not a child of %q", s.Name, server.Name)
				}
			}
			if wait.EndTime.After(hash.StartTime) {
				t.Errorf("the wait (ends %v) overlaps the hash (starts %v)", wait.EndTime, hash.StartTime)
			}
			want := map[string]int64{"kairos.argon2.memory_kib": int64(cheap.MemoryKiB), "kairos.argon2.time": int64(cheap.Time),
				"kairos.argon2.parallelism": int64(cheap.Parallelism)}
			for _, a := range hash.Attributes {
				if v, ok := want[string(a.Key)]; ok && a.Value.AsInt64() == v {
					delete(want, string(a.Key))
				}
			}
			if len(want) > 0 {
				t.Errorf("hash span lacks parameters %v: %v", want, hash.Attributes)
			}
			if !hasAttr(wait.Attributes, "kairos.hash.queue_wait_seconds") {
				t.Errorf("wait span lacks the queue wait: %v", wait.Attributes)
			}
		})
	}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	return names
}

func hasAttr(attrs []attribute.KeyValue, key string) bool {
	for _, a := range attrs {
		if string(a.Key) == key {
			return true
		}
	}
	return false
}
