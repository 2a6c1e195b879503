package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/pkg/smtptest"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// TestObservability runs the real services, walks signup → verify → login
// and checks what operators rely on: the metrics the dashboards and alerts
// use, one trace per signup across both services and the Agent, trace ids in
// the logs, and no secret in any log line or span.
func TestObservability(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Spans go to each process's stdout as JSON lines (console exporter),
	// exported every 100 ms and flushed on SIGTERM; debug logs so that every
	// line a service can write is scanned for secrets.
	otelEnv := map[string]string{
		"OTEL_TRACES_EXPORTER":    "console",
		"OTEL_TRACES_SAMPLER":     "parentbased_always_on",
		"OTEL_BSP_SCHEDULE_DELAY": "100",
		"LOG_LEVEL":               "debug",
		"LOG_FORMAT":              "json",
	}
	s, err := stack.Start(ctx, stack.Options{AuthEnv: otelEnv, NotifierEnv: otelEnv, Log: testLog{t}})
	if err != nil {
		t.Fatalf("start the services: %v", err)
	}
	t.Cleanup(s.Close)
	auth, ntf := s.Auth[0], s.Notifier[0]
	prom := startPrometheus(t, map[string]string{authAPI: auth.AdminAddr, notifier: ntf.AdminAddr})

	// Series with known label values exist before any traffic.
	t.Run("series exist from the start", func(t *testing.T) {
		checkPrecreated(t, map[string]map[string]*dto.MetricFamily{
			authAPI:  scrape(t, auth.AdminURL()),
			notifier: scrape(t, ntf.AdminURL()),
		})
	})

	// The flow: signup, a login before verifying, verify, a wrong password,
	// the right one.
	f := flow{
		email:         "e2e-observer@example.com",
		password:      "Obs-" + randomHex(t, 12) + "-pass",
		wrongPassword: "Wrong-" + randomHex(t, 12) + "-pass",
	}
	api := auth.URL()
	expectStatus(t, post(t, api+"/api/signup/", map[string]string{"username": "e2e-observer", "email": f.email, "password": f.password}), http.StatusOK, "signup")
	expectStatus(t, post(t, api+"/api/login/", map[string]string{"email": f.email, "password": f.password}), http.StatusForbidden, "login before verifying")
	f.token = waitForToken(ctx, t, s.SMTP, f.email)
	expectStatus(t, get(t, api+"/api/verify/"+f.token+"/"), http.StatusOK, "verify")
	expectStatus(t, post(t, api+"/api/login/", map[string]string{"email": f.email, "password": f.wrongPassword}), http.StatusUnauthorized, "login with a wrong password")
	expectStatus(t, post(t, api+"/api/login/", map[string]string{"email": f.email, "password": f.password}), http.StatusOK, "login")
	actx, acancel := context.WithTimeout(ctx, 60*time.Second)
	defer acancel()
	if _, err := s.Agent.WaitForUsers(actx, 1); err != nil {
		t.Errorf("the Agent never got the user: %v", err)
	}
	f.hash = passwordHash(ctx, t, s.PG.DatabaseURL, f.email)

	// Both consumers count the event before the metrics are compared.
	waitForMetric(ctx, t, ntf.AdminURL(), "kairos_notifier_messages_total", map[string]string{"consumer": "email", "result": "ok"})
	waitForMetric(ctx, t, ntf.AdminURL(), "kairos_notifier_messages_total", map[string]string{"consumer": "agent", "result": "ok"})

	t.Run("dashboard and alert metrics exist", func(t *testing.T) {
		checkUsedMetricsServed(t, map[string]map[string]*dto.MetricFamily{
			authAPI:  scrape(t, auth.AdminURL()),
			notifier: scrape(t, ntf.AdminURL()),
		})
	})

	// What an operator sees: Prometheus scraped the flow, the panels draw,
	// the rules evaluate and nothing alerts on a healthy system.
	prom.wait(t, "the flow scraped", func() bool {
		n, err := prom.query(ctx, `kairos_notifier_messages_total{consumer="agent",result="ok"} >= 1 and on() kairos_logins_total{result="ok"} >= 1`)
		return err == nil && n > 0
	})
	// Five scrapes of each service give every rate() two points and every
	// rule a few evaluations on real data (the first ones ran before any).
	prom.wait(t, "five scrapes of both services", func() bool {
		n, err := prom.query(ctx, `count_over_time(up[1m]) >= 5`)
		return err == nil && n == 2
	})
	t.Run("dashboards fill in Prometheus", func(t *testing.T) {
		checkDashboardsFill(ctx, t, prom)
	})
	t.Run("rules evaluate, nothing alerts", func(t *testing.T) {
		checkRulesHealthy(ctx, t, prom)
	})

	// SIGTERM flushes the span batches; then the outputs are complete.
	for _, p := range s.All() {
		if _, err := p.Stop(30 * time.Second); err != nil {
			t.Errorf("%s did not stop cleanly: %v", p.Name, err)
		}
	}
	out := map[string]output{authAPI: readOutput(t, auth.LogPath), notifier: readOutput(t, ntf.LogPath)}

	var traceID string
	t.Run("one trace per signup", func(t *testing.T) {
		traceID = checkTrace(t, out, s.Agent.Calls())
	})
	t.Run("log lines carry the trace id", func(t *testing.T) {
		if traceID == "" {
			t.Fatal("no signup trace found (see the trace subtest)")
		}
		for _, svc := range []string{authAPI, notifier} {
			if !slices.ContainsFunc(out[svc].logs, func(l map[string]any) bool { return l["trace_id"] == traceID }) {
				t.Errorf("%s: no log line carries trace_id %s of the signup (%d log lines)", svc, traceID, len(out[svc].logs))
			}
		}
	})
	t.Run("no secret in logs or spans", func(t *testing.T) {
		checkNoSecrets(t, out, f)
	})
}

type flow struct {
	email, password, wrongPassword, token, hash string
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	f, err := os.Open("/dev/urandom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// ---- HTTP ----

type response struct {
	status int
	body   string
}

var client = &http.Client{Timeout: 30 * time.Second}

func post(t *testing.T, url string, body any) response {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return readResponse(t, resp)
}

func get(t *testing.T, url string) response {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return readResponse(t, resp)
}

func readResponse(t *testing.T, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, body: string(b)}
}

func expectStatus(t *testing.T, r response, want int, what string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, want, r.body)
	}
}

var verifyLink = regexp.MustCompile(`/api/verify/([A-Za-z0-9_-]{20,})/?`)

// waitForToken returns the verification token of the email sent to addr.
func waitForToken(ctx context.Context, t *testing.T, sink *smtptest.Server, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for n := 1; ; n++ {
		msgs, err := sink.WaitFor(ctx, n)
		if err != nil {
			t.Fatalf("no verification email for %s: %v", addr, err)
		}
		m := msgs[n-1]
		if !slices.ContainsFunc(m.To, func(to string) bool { return strings.EqualFold(to, addr) }) {
			continue
		}
		for _, body := range []string{m.Text, m.HTML, string(m.Raw)} {
			if sm := verifyLink.FindStringSubmatch(body); sm != nil {
				return sm[1]
			}
		}
		t.Fatalf("the email to %s has no /api/verify/<token>/ link:\n%s", addr, m.Raw)
	}
}

func passwordHash(ctx context.Context, t *testing.T, url, email string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var h string
	if err := conn.QueryRow(ctx, "SELECT password_hash FROM users WHERE lower(email) = lower($1)", email).Scan(&h); err != nil {
		t.Fatalf("read the stored hash: %v", err)
	}
	return h
}

// ---- metrics ----

func scrape(t *testing.T, adminURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", adminURL, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", adminURL, err)
	}
	return fams
}

// matches reports whether m has every label of want.
func matches(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// waitForMetric polls until a series of name with labels is at least 1.
func waitForMetric(ctx context.Context, t *testing.T, adminURL, name string, labels map[string]string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if fam := scrape(t, adminURL)[name]; fam != nil {
			for _, m := range fam.GetMetric() {
				if matches(m, labels) && value(m) >= 1 {
					return
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Errorf("%s%v never reached 1 on %s", name, labels, adminURL)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkPrecreated(t *testing.T, served map[string]map[string]*dto.MetricFamily) {
	for _, spec := range contract {
		if spec.precreated == nil {
			continue
		}
		for _, svc := range servicesOf(spec) {
			fam := served[svc][spec.name]
			if fam == nil {
				t.Errorf("%s: %s is not served at start (series must exist before the first event)", svc, spec.name)
				continue
			}
			for _, want := range combinations(spec.precreated) {
				if !slices.ContainsFunc(fam.GetMetric(), func(m *dto.Metric) bool { return matches(m, want) }) {
					t.Errorf("%s: %s has no series %v at start", svc, spec.name, want)
				}
			}
		}
	}
}

func servicesOf(spec metricSpec) []string {
	if spec.service == both {
		return []string{authAPI, notifier}
	}
	return []string{spec.service}
}

// checkUsedMetricsServed compares every metric of the dashboards and rules
// with what the services serve, and the contract with where it is served.
func checkUsedMetricsServed(t *testing.T, served map[string]map[string]*dto.MetricFamily) {
	isHistogram := func(name string) bool {
		for _, fams := range served {
			if f := fams[name]; f != nil && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
				return true
			}
		}
		return false
	}
	var missing []string
	for name, where := range usedMetrics(t, isHistogram) {
		if served[authAPI][name] == nil && served[notifier][name] == nil {
			missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(where, "; ")))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("served by neither service: %s", m)
	}

	// Every label a query filters on is a label the series have (job,
	// instance and le come from Prometheus or the histogram itself).
	qs, _ := allQueries(t)
	for _, q := range qs {
		vss, err := selectors(q.expr)
		if err != nil {
			continue
		}
		for _, vs := range vss {
			name := baseName(selectorName(vs), isHistogram)
			var fam *dto.MetricFamily
			for _, fams := range served {
				if f := fams[name]; f != nil {
					fam = f
				}
			}
			if fam == nil || len(fam.GetMetric()) == 0 {
				continue
			}
			for _, m := range vs.LabelMatchers {
				switch m.Name {
				case "__name__", "job", "instance", "le":
					continue
				}
				if !slices.ContainsFunc(fam.GetMetric()[0].GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == m.Name }) {
					t.Errorf("%s: %s has no label %q", q.source, name, m.Name)
				}
			}
		}
	}
	for _, spec := range contract {
		for _, svc := range servicesOf(spec) {
			fam := served[svc][spec.name]
			if fam == nil {
				t.Errorf("%s does not serve %s (%s) of the metrics contract", svc, spec.name, spec.kind)
				continue
			}
			if got := strings.ToLower(fam.GetType().String()); got != spec.kind {
				t.Errorf("%s: %s is a %s, the contract says %s", svc, spec.name, got, spec.kind)
			}
		}
	}
}

// ---- process output: spans and log lines ----

type output struct {
	raw   []byte
	spans []span
	logs  []map[string]any
	other []string // lines that are neither (e.g. a panic)
}

// span is what the OpenTelemetry stdout exporter writes for one span.
type span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
	SpanKind    int
	Attributes  []struct {
		Key   string
		Value struct {
			Type  string
			Value any
		}
	}
}

// OpenTelemetry span kinds as the stdout exporter writes them.
const (
	kindServer   = 2
	kindClient   = 3
	kindProducer = 4
	kindConsumer = 5
)

func (s span) attr(key string) (any, bool) {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.Value, true
		}
	}
	return nil, false
}

func (s span) String() string {
	return fmt.Sprintf("%q kind=%d trace=%s span=%s parent=%s", s.Name, s.SpanKind, s.SpanContext.TraceID, s.SpanContext.SpanID, s.Parent.SpanID)
}

func readOutput(t *testing.T, path string) output {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o := output{raw: raw}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "=== "):
		case strings.HasPrefix(line, `{"Name":`):
			var s span
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				o.other = append(o.other, line)
				continue
			}
			o.spans = append(o.spans, s)
		default:
			var l map[string]any
			if err := json.Unmarshal([]byte(line), &l); err != nil || l["msg"] == nil {
				o.other = append(o.other, line)
				continue
			}
			o.logs = append(o.logs, l)
		}
	}
	return o
}

func names(spans []span) string {
	var s []string
	for _, sp := range spans {
		s = append(s, sp.String())
	}
	return strings.Join(s, "\n  ")
}

func inTrace(spans []span, traceID string, keep func(span) bool) []span {
	var out []span
	for _, s := range spans {
		if s.SpanContext.TraceID == traceID && keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// checkTrace finds the signup's trace and checks that the relay's publish,
// the notifier's consume, the SMTP send and the Agent call are in it, and
// that the Agent request carried it. It returns the trace id.
func checkTrace(t *testing.T, out map[string]output, calls []agenttest.Call) string {
	a, n := out[authAPI], out[notifier]
	if len(a.spans) == 0 || len(n.spans) == 0 {
		t.Fatalf("spans: %d from auth-api, %d from the notifier; OTEL_TRACES_EXPORTER=console must write spans to stdout and SIGTERM must flush them", len(a.spans), len(n.spans))
	}
	var signup *span
	for i, s := range a.spans {
		if s.SpanKind == kindServer && strings.Contains(s.Name, "/api/signup") {
			signup = &a.spans[i]
		}
	}
	if signup == nil {
		t.Fatalf("auth-api: no SERVER span named after /api/signup/; spans:\n  %s", names(a.spans))
	}
	id := signup.SpanContext.TraceID
	t.Logf("signup trace %s", id)
	all := func(span) bool { return true }

	if db := inTrace(a.spans, id, func(s span) bool {
		_, sys := s.attr("db.system")
		_, sysName := s.attr("db.system.name")
		return s.SpanKind == kindClient && (sys || sysName)
	}); len(db) == 0 {
		t.Errorf("auth-api: no pgx span (CLIENT with db.system) in the signup trace; spans of the trace:\n  %s", names(inTrace(a.spans, id, all)))
	}
	// The argon2id work is labelled: the wait for a slot, then the hash, under the request.
	for _, name := range []string{"password hash wait", "argon2id hash"} {
		if hs := inTrace(a.spans, id, func(s span) bool { return s.Name == name && s.Parent.SpanID == signup.SpanContext.SpanID }); len(hs) != 1 {
			t.Errorf("auth-api: want one %q span under the signup's HTTP span; spans of the trace:\n  %s", name, names(inTrace(a.spans, id, all)))
		}
	}
	producers := inTrace(a.spans, id, func(s span) bool { return s.SpanKind == kindProducer })
	if len(producers) == 0 {
		t.Errorf("auth-api: no PRODUCER span (the outbox relay's publish) in the signup trace; spans of the trace:\n  %s\nall PRODUCER spans:\n  %s",
			names(inTrace(a.spans, id, all)), names(filter(a.spans, func(s span) bool { return s.SpanKind == kindProducer })))
	}
	consumers := inTrace(n.spans, id, func(s span) bool { return s.SpanKind == kindConsumer })
	if len(consumers) == 0 {
		t.Errorf("notifier: no CONSUMER span in the signup trace; notifier spans:\n  %s", names(n.spans))
	}
	for _, c := range consumers {
		if !slices.ContainsFunc(producers, func(p span) bool { return p.SpanContext.SpanID == c.Parent.SpanID }) {
			t.Errorf("notifier: consume span %s is not a child of the relay's publish span", c)
		}
	}
	if sends := inTrace(n.spans, id, isSMTP); len(sends) == 0 {
		t.Errorf("notifier: no SMTP span (name or attribute mentioning smtp) in the signup trace; spans of the trace:\n  %s", names(inTrace(n.spans, id, all)))
	}
	if calls := inTrace(n.spans, id, isAgentCall); len(calls) == 0 {
		t.Errorf("notifier: no Agent CLIENT span (HTTP POST /users/{uid}) in the signup trace; spans of the trace:\n  %s", names(inTrace(n.spans, id, all)))
	}

	carried := false
	for _, c := range calls {
		parts := strings.Split(c.TraceParent, "-")
		if len(parts) == 4 && parts[1] == id {
			carried = true
		}
	}
	if !carried {
		var got []string
		for _, c := range calls {
			got = append(got, fmt.Sprintf("%q", c.TraceParent))
		}
		t.Errorf("the Agent received no traceparent of trace %s; traceparent headers received: %s", id, strings.Join(got, ", "))
	}
	return id
}

func filter(spans []span, keep func(span) bool) []span {
	var out []span
	for _, s := range spans {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

func isSMTP(s span) bool {
	if strings.Contains(strings.ToLower(s.Name), "smtp") {
		return true
	}
	for _, a := range s.Attributes {
		if strings.Contains(strings.ToLower(a.Key), "smtp") || strings.Contains(strings.ToLower(fmt.Sprint(a.Value.Value)), "smtp") {
			return true
		}
	}
	return false
}

func isAgentCall(s span) bool {
	if s.SpanKind != kindClient {
		return false
	}
	if m, ok := s.attr("http.request.method"); ok && m == "POST" {
		return true
	}
	return strings.Contains(s.Name, "POST") || strings.Contains(s.Name, "/users/")
}

// checkNoSecrets scans every byte the services wrote — log lines, span
// names and attributes, anything else — for the flow's password, the wrong
// password, the verification token and the stored hash.
func checkNoSecrets(t *testing.T, out map[string]output, f flow) {
	secrets := map[string]string{
		"password":           f.password,
		"wrong password":     f.wrongPassword,
		"verification token": f.token,
		"password hash":      f.hash,
	}
	// The hash's last PHC field is the digest itself; it must not appear
	// on its own either.
	if i := strings.LastIndex(f.hash, "$"); i >= 0 && len(f.hash)-i > 16 {
		secrets["password hash digest"] = f.hash[i+1:]
	}
	for svc, o := range out {
		if len(o.logs) == 0 {
			t.Errorf("%s: no log lines at all; the scan would prove nothing", svc)
		}
		for what, secret := range secrets {
			if secret == "" {
				t.Errorf("%s is empty; the scan would prove nothing", what)
				continue
			}
			for i, line := range strings.Split(string(o.raw), "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("%s: output line %d contains the %s:\n%s", svc, i+1, what, line)
				}
			}
		}
	}
}
