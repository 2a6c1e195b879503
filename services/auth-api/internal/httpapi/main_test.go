package httpapi_test

import (
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// TestMain teaches the OpenAPI validator the HTML pages (it has no decoder
// for text/html), and sets the propagator auth-api's run sets (W3C trace
// context), once, before any test runs in parallel.
func TestMain(m *testing.M) {
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}
