package httpapi_test

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
)

// Server spans are named by the route template and never carry the token
// of a verify link (otelhttp records the path, so it is shown a redacted one).
func TestSpansNamedByRouteWithoutTokens(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := newHarness(t, func(o *httpapi.Options) { o.TracerProvider = tp })
	h.signup(t, "a", "a@example.com", goodPassword)
	tok := h.lastToken(t)
	h.do(t, request{method: "GET", path: "/api/verify/" + tok + "?utm=" + tok})
	h.do(t, request{method: "GET", path: "/nowhere/" + tok})

	spans := exp.GetSpans()
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
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
