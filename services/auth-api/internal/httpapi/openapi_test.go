package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// Every response the tests get through harness.do is validated against
// openapi.yaml. This test makes sure that validation has teeth: each
// operation is found, and a response that breaks the document is caught.
func TestOpenAPIValidationHasTeeth(t *testing.T) {
	spec := loadSpec(t)
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/signup/"}, {"POST", "/api/login/"}, {"POST", "/api/verify/resend/"}, {"GET", "/api/verify/abc/"},
		{"POST", "/api/token/refresh/"}, {"GET", "/api/me/"}, {"GET", "/api/sessions/"}, {"GET", "/api/auth/check/"},
		{"GET", "/.well-known/jwks.json"}, {"GET", "/.well-known/openid-configuration"},
	} {
		req := httptest.NewRequest(c.method, "http://localhost:8080"+c.path, nil)
		route, params, err := spec.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s is not an operation of openapi.yaml: %v", c.method, c.path, err)
		}
		bad := []struct {
			status int
			header http.Header
			body   string
		}{
			{418, http.Header{"Content-Type": {"application/json"}}, `{"message":"teapot"}`},
			{200, http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "X-Content-Type-Options": {"nosniff"}, "X-Request-Id": {"x"}}, `{"msg":1}`},
			{200, http.Header{"Content-Type": {"application/json"}}, `{"message":"Login successful","auth_id":"00000000-0000-0000-0000-000000000000"}`}, // no security headers
		}
		for _, b := range bad {
			in := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
				Status:                 b.status, Header: b.header,
				Options: &openapi3filter.Options{IncludeResponseStatus: true},
			}
			in.SetBodyBytes([]byte(b.body))
			if err := openapi3filter.ValidateResponse(context.Background(), in); err == nil {
				t.Errorf("%s %s: %d %s with %v passed validation", c.method, c.path, b.status, strings.TrimSpace(b.body), b.header)
			}
		}
	}
}
