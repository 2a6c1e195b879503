package httpapi_test

import (
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// TestMain teaches the OpenAPI validator the HTML pages (it has no decoder
// for text/html); registered once, before any test runs in parallel.
func TestMain(m *testing.M) {
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
	os.Exit(m.Run())
}
