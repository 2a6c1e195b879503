package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/telemetry"
	"github.com/kairos-platform/identity/pkg/testkit"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth/passwords"
	"github.com/kairos-platform/identity/services/auth-api/internal/hashing"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// cheap hashing keeps handler tests fast; the real parameters are measured
// by the benchmarks.
var cheap = passhash.Params{MemoryKiB: 64, Time: 1, Parallelism: 1}

// harness is the real API (handler, rules, PostgreSQL) of one test.
type harness struct {
	handler http.Handler
	pool    *pgxpool.Pool
	reg     *prometheus.Registry
	logs    *testkit.LogBuffer
	spec    routers.Router
	hasher  *hashing.Hasher

	list      *revocation.List
	authority *tokens.Authority
	keyPEM    []byte
}

// testKeys is a fresh ES256 signing key, as PEM and parsed.
func testKeys(t testing.TB) ([]byte, *tokens.KeySet) {
	t.Helper()
	pem, err := tokens.Generate(tokens.TypeES256)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := tokens.ParseKeys(pem)
	if err != nil {
		t.Fatal(err)
	}
	return pem, ks
}

type option func(*httpapi.Options)

func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	return newHarnessWith(t, cheap, opts...)
}

// newHarnessWith hashes with p (benchmarks use the production parameters).
func newHarnessWith(t testing.TB, p passhash.Params, opts ...option) *harness {
	t.Helper()
	return newHarnessRules(t, p, nil, opts...)
}

// newHarnessRules also lets rules change the rules' configuration.
func newHarnessRules(t testing.TB, p passhash.Params, rules func(*auth.Config), opts ...option) *harness {
	t.Helper()
	pool := migrationstest.NewPool(t)
	reg := prometheus.NewRegistry()
	logs := &testkit.LogBuffer{}
	logger := telemetry.NewLogger(logs, slog.LevelInfo, telemetry.LogJSON)
	store := postgres.New(pool)
	keyPEM, keys := testKeys(t)
	authority := tokens.NewAuthority(keys, tokens.Config{Issuer: "http://localhost:8080", Audience: "kairos", TTL: 10 * time.Minute, Leeway: 5 * time.Second,
		VerifiedCache: tokens.DefaultVerifiedCache}, time.Now)
	list := revocation.New(11 * time.Minute)
	// No feed in these tests: the list is declared current for an hour, so
	// the deny-list decides (TestStaleFeed makes it stale).
	list.Heard(time.Now())
	jwks, _ := keys.JWKS()
	discovery, _ := keys.Discovery("http://localhost:8080")
	o := httpapi.Options{
		Sessions: &session.Service{Store: store, Issuer: authority,
			Config:  session.Config{RefreshTTL: time.Hour, MaxAge: 2 * time.Hour, ReuseGrace: 10 * time.Second, AccessTTL: 10 * time.Minute},
			Applied: func(r events.Revocation) { list.Apply(r, time.Now()) }},
		Checker:            &revocation.Checker{Tokens: authority, List: list, DB: store, MaxLag: time.Hour, Now: time.Now},
		Directory:          store,
		JWKS:               jwks,
		Discovery:          discovery,
		DocumentMaxAge:     5 * time.Minute,
		Policy:             auth.Policy{MinPasswordLength: 8, Common: passwords.Common()},
		OverloadRetryAfter: 2 * time.Second,
		Logger:             logger,
		Registerer:         reg,
	}
	// The hasher sees the options' tracer provider, and options may wrap the
	// Gate or read the Checker: a first pass on a full copy finds the
	// provider, the real pass sees the hasher built with it.
	build := func(tp trace.TracerProvider, reg prometheus.Registerer) {
		hasher, err := hashing.New(p, hashing.Options{Concurrency: 4, QueueTimeout: time.Minute, Registerer: reg, TracerProvider: tp})
		if err != nil {
			t.Fatal(err)
		}
		cfg := auth.Config{
			VerifyURL: httpapi.VerifyURL("http://localhost:8080/"), TokenTTL: 24 * time.Hour, MaxLoginFailures: 5,
			MaxAccountFailures: 100, Logger: logger, Registerer: reg,
			ResetURL: httpapi.ResetURL("http://localhost:8080/", nil), ResetTTL: 30 * time.Minute, MailBudget: 5,
			EmailConfirmURL: httpapi.EmailConfirmURL("http://localhost:8080/"),
		}
		if rules != nil {
			rules(&cfg)
		}
		svc, err := auth.New(store, hasher, cfg)
		if err != nil {
			t.Fatal(err)
		}
		o.Auth, o.Gate = svc, hasher
	}
	build(nil, prometheus.NewRegistry())
	pre := o
	for _, f := range opts {
		f(&pre)
	}
	build(pre.TracerProvider, reg)
	hasher := o.Gate.(*hashing.Hasher)
	for _, f := range opts {
		f(&o)
	}
	h, err := httpapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{handler: h, pool: pool, reg: reg, logs: logs, spec: loadSpec(t), hasher: hasher, list: list, authority: authority, keyPEM: keyPEM}
}

// loadSpec reads openapi.yaml; every response a test receives through do is
// validated against it.
func loadSpec(t testing.TB) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("../../openapi.yaml")
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type request struct {
	method, path, body string
	header             http.Header
	remote             string
}

// do sends a request through the whole handler and checks the response
// against the OpenAPI document when the path is one of its operations.
func (h *harness) do(t testing.TB, rq request) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(rq.method, "http://localhost:8080"+rq.path, strings.NewReader(rq.body))
	if rq.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	if rq.remote != "" {
		req.RemoteAddr = rq.remote
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	if _, bench := t.(*testing.B); !bench { // benchmarks measure the handler only
		h.validate(t, req, rec)
	}
	return rec
}

func (h *harness) validate(t testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	// The spec's paths end in a slash (but for /.well-known/ names); the API
	// takes them with or without.
	vreq := req.Clone(context.Background())
	if !strings.HasSuffix(vreq.URL.Path, "/") && !strings.HasPrefix(vreq.URL.Path, "/.well-known/") {
		vreq.URL.Path += "/"
	}
	route, params, err := h.spec.FindRoute(vreq)
	if err != nil {
		return // 404/405 paths are not operations of the document
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route},
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s → %d %s: response does not match openapi.yaml: %v", req.Method, req.URL.Path, rec.Code, rec.Body, err)
	}
}

func (h *harness) signup(t testing.TB, username, email, password string) *httptest.ResponseRecorder {
	t.Helper()
	return h.do(t, request{method: "POST", path: "/api/signup/",
		body: `{"username":` + quote(username) + `,"email":` + quote(email) + `,"password":` + quote(password) + `}`})
}

func (h *harness) login(t testing.TB, email, password string) *httptest.ResponseRecorder {
	t.Helper()
	return h.do(t, request{method: "POST", path: "/api/login/", body: `{"email":` + quote(email) + `,"password":` + quote(password) + `}`})
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// lastToken is the token of the newest event's verify link.
func (h *harness) lastToken(t testing.TB) string {
	t.Helper()
	evs := migrationstest.OutboxEvents(t, h.pool)
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	u := evs[len(evs)-1].VerifyURL
	tok, ok := strings.CutPrefix(u, "http://localhost:8080/api/verify/")
	if !ok {
		t.Fatalf("verify_url %q", u)
	}
	return strings.TrimSuffix(tok, "/")
}

func (h *harness) count(t testing.TB, sql string) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// metric returns the value of the counter or gauge name with the given
// label values (in label-name order), or -1 when the series is absent.
func (h *harness) metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

func body(rec *httptest.ResponseRecorder) string {
	return strings.TrimSpace(rec.Body.String())
}
