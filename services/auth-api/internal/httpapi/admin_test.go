package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/services/auth-api/internal/admin"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/hashing"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

const testAdminToken = "an-admin-token-that-is-long-enough-0123"

func TestParseAdminTokens(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", httpapi.MinAdminTokenLength)
	for _, c := range []struct {
		name, file string
		want       []string // names; nil: an error
	}{
		{"two with a comment", "# ops\nalice:" + long + "\n\nbob:" + long + "y\n", []string{"alice", "bob"}},
		{"token containing a colon", "ci:" + long + ":z", []string{"ci"}},
		{"no name", ":" + long, nil},
		{"no colon", long, nil},
		{"short token", "alice:short", nil},
		{"name twice", "a:" + long + "\na:" + long + "1", nil},
		{"odd name", "al ice:" + long, nil},
		{"empty", "# nothing\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			toks, err := httpapi.ParseAdminTokens([]byte(c.file))
			if c.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", toks)
				}
				if strings.Contains(err.Error(), long) {
					t.Fatalf("the error quotes the token: %v", err)
				}
				return
			}
			var names []string
			for _, tk := range toks {
				names = append(names, tk.Name)
			}
			if err != nil || strings.Join(names, ",") != strings.Join(c.want, ",") {
				t.Fatalf("names %v, %v; want %v", names, err, c.want)
			}
		})
	}
}

// Every operation of openapi-admin.yaml, called through the handler: the
// answers match the document, 401s are JSON and counted, and the document
// lists no operation the handler lacks (nor the reverse, for these paths).
func TestAdminAPIMatchesItsDocument(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromFile("../../openapi-admin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi-admin.yaml is not valid OpenAPI: %v", err)
	}
	spec, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	pool := migrationstest.NewPool(t)
	store := postgres.New(pool)
	hasher, err := hashing.New(passhash.Params{MemoryKiB: 64, Time: 1, Parallelism: 1}, hashing.Options{Concurrency: 2, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(store, hasher, auth.Config{VerifyURL: httpapi.VerifyURL("http://x"), TokenTTL: time.Hour, MaxLoginFailures: 5, MailBudget: 5})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := admin.New(store, svc, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := httpapi.ParseAdminTokens([]byte("alice:" + testAdminToken))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := httpapi.NewAdmin(httpapi.AdminOptions{Admin: ops, Tokens: tokens, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Signup(context.Background(), auth.Signup{Username: "u", Email: "u@example.com", Password: "long-enough-pass"}); err != nil {
		t.Fatal(err)
	}
	a, err := store.AccountByEmail(context.Background(), "u@example.com")
	if err != nil {
		t.Fatal(err)
	}
	uid, unknown := a.UID, "00000000-0000-4000-8000-000000000000"

	covered := map[string]bool{}
	call := func(method, path, token string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, "http://localhost:9090"+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		route, params, err := spec.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s is not an operation of openapi-admin.yaml", method, path)
			return rec
		}
		covered[route.Operation.OperationID] = true
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
			Status: rec.Code, Header: rec.Header(), Options: &openapi3filter.Options{IncludeResponseStatus: true},
		}
		in.SetBodyBytes(rec.Body.Bytes())
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Errorf("%s %s → %d %s: not as documented: %v", method, path, rec.Code, rec.Body, err)
		}
		return rec
	}
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/admin/v1/users", "", 401},
		{"GET", "/admin/v1/users", "wrong", 401},
		{"GET", "/admin/v1/users/" + uid, testAdminToken + "0", 401},
		{"GET", "/admin/v1/users?query=u@&status=unverified", testAdminToken, 200},
		{"GET", "/admin/v1/users?limit=1&cursor=bad", testAdminToken, 400},
		{"GET", "/admin/v1/users?status=gone", testAdminToken, 400},
		{"POST", "/admin/v1/users/" + uid + "/resend-verification", testAdminToken, 200},
		{"POST", "/admin/v1/users/" + uid + "/verify", testAdminToken, 200},
		{"POST", "/admin/v1/users/" + uid + "/resend-verification", testAdminToken, 409},
		{"POST", "/admin/v1/users/" + uid + "/disable", testAdminToken, 200},
		{"POST", "/admin/v1/users/" + uid + "/enable", testAdminToken, 200},
		{"POST", "/admin/v1/users/" + uid + "/unlock", testAdminToken, 200},
		{"POST", "/admin/v1/users/" + uid + "/sign-out", testAdminToken, 200},
		{"POST", "/admin/v1/users/" + unknown + "/sign-out", testAdminToken, 404},
		{"GET", "/admin/v1/users/" + uid, testAdminToken, 200},
		{"GET", "/admin/v1/audit?uid=" + uid + "&since=1h&limit=3", testAdminToken, 200},
		{"GET", "/admin/v1/audit?since=yesterday", testAdminToken, 400},
		{"DELETE", "/admin/v1/users/" + uid, testAdminToken, 204},
		{"DELETE", "/admin/v1/users/" + uid, testAdminToken, 404},
		{"GET", "/admin/v1/users/" + unknown, testAdminToken, 404},
	} {
		if rec := call(c.method, c.path, c.token); rec.Code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, rec.Code, rec.Body, c.want)
		}
	}
	for path, op := range doc.Paths.Map() {
		for method, o := range op.Operations() {
			if !covered[o.OperationID] {
				t.Errorf("%s %s (%s) is documented but not exercised", method, path, o.OperationID)
			}
		}
	}
	// Unknown paths need the token too, then are a JSON 404.
	req := httptest.NewRequest("GET", "http://localhost:9090/admin/v1/nope", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("unknown path without a token: %d", rec.Code)
	}
	if n := labelled(t, reg, "kairos_admin_auth_failures_total", "missing"); n != 2 {
		t.Errorf("missing-token 401s counted %v, want 2", n)
	}
	if n := labelled(t, reg, "kairos_admin_auth_failures_total", "invalid"); n != 2 {
		t.Errorf("invalid-token 401s counted %v, want 2", n)
	}
	var page struct{ Entries []auth.AuditEntry }
	rec = call("GET", "/admin/v1/audit?uid="+uid+"&action=user.deleted", testAdminToken)
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || len(page.Entries) != 2 ||
		page.Entries[0].Actor != "api:alice" || page.Entries[0].Outcome != "not_found" || page.Entries[1].Outcome != "ok" {
		t.Fatalf("deletion audit: %s", rec.Body)
	}
}

// labelled is the value of the series of name whose one label is value.
func labelled(t *testing.T, g prometheus.Gatherer, name, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == name && m.GetLabel()[0].GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", name, value)
	return 0
}
