package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := latency{N: 100, P50: 50, P90: 90, P99: 99, Max: 100}
	if got != want {
		t.Fatalf("summarize = %+v, want %+v", got, want)
	}
	if (summarize(nil) != latency{}) {
		t.Fatal("summarize(nil) is not zero")
	}
}

func TestClassify(t *testing.T) {
	ok := expect(is(200))
	cases := []struct {
		name string
		out  outcome
		want string
	}{
		{"expected", ok(200, false, nil), "ok"},
		{"shed", ok(503, true, nil), "503"},
		{"locked", ok(429, true, nil), "429"},
		{"server error", ok(500, false, nil), "5xx"},
		{"client error", ok(401, false, nil), "4xx"},
		{"timeout", ok(0, false, context.DeadlineExceeded), "timeout"},
		{"refused", ok(0, false, errors.New("connection refused")), "conn_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := classify(c.out); got != c.want {
				t.Fatalf("classify = %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	getenv := func(string) string { return "" }
	c, err := parseFlags([]string{"-scenarios", "login, verify", "-auth-env", "HASH_QUEUE_TIMEOUT=500ms"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Scenarios, ",") != "login,verify" || c.AuthEnv["HASH_QUEUE_TIMEOUT"] != "500ms" {
		t.Fatalf("parsed %v %v", c.Scenarios, c.AuthEnv)
	}
	for _, bad := range [][]string{{"-scenarios", "nope"}, {"-auth-env", "JUSTAKEY"}} {
		if _, err := parseFlags(bad, getenv); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestUpdateDocKeepsTheHandWrittenParts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	if err := updateDoc(path, "first\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	doc := "# Title\nintro\n" + string(b) + "after\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateDoc(path, "second\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	got := string(b)
	if strings.Contains(got, "first") || !strings.Contains(got, "second") || !strings.HasPrefix(got, "# Title\nintro\n") || !strings.HasSuffix(got, "after\n") {
		t.Fatalf("document:\n%s", got)
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# HELP kairos_outbox_pending x\nkairos_outbox_pending 7\nkairos_outbox_pending_age 9\n" +
			"kairos_login_lockouts_total{a=\"1\"} 2\nkairos_login_lockouts_total{a=\"2\"} 3\n"))
	}))
	defer srv.Close()
	ctx := context.Background()
	if v, err := scrape(ctx, srv.URL, "kairos_outbox_pending"); err != nil || v != 7 {
		t.Errorf("pending = %v, %v", v, err)
	}
	if v, err := scrape(ctx, srv.URL, "kairos_login_lockouts_total"); err != nil || v != 5 {
		t.Errorf("lockouts = %v, %v", v, err)
	}
	if _, err := scrape(ctx, srv.URL, "missing"); err == nil {
		t.Error("missing metric: no error")
	}
	all := scrapeAll(ctx, srv.URL, "kairos_login_lockouts_total")
	if len(all) != 2 || all[`{a="1"}`] != 2 || all[`{a="2"}`] != 3 {
		t.Errorf("all lockouts = %v", all)
	}
	if all := scrapeAll(ctx, srv.URL, "kairos_outbox_pending"); len(all) != 1 || all[""] != 7 {
		t.Errorf("all pending = %v", all)
	}
}

// The pgbench script is auth-api's verify transaction with every parameter
// bound: a placeholder left over would fail pgbench in the middle of a run.
func TestPgbenchScriptBindsEveryParameter(t *testing.T) {
	s := pgbenchScript()
	if strings.Contains(s, "$") {
		t.Fatalf("unbound parameter in the pgbench script:\n%s", s)
	}
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 6 || lines[1] != "BEGIN;" || lines[5] != "COMMIT;" ||
		!strings.HasPrefix(lines[2], "UPDATE verification_tokens SET used_at = now() WHERE token_hash = sha256(") {
		t.Fatalf("pgbench script is not set, BEGIN, the three statements, COMMIT:\n%s", s)
	}
}

func TestParsePprofTotals(t *testing.T) {
	cases := []struct {
		out          string
		focus, total time.Duration
	}{
		{"Showing nodes accounting for 1.20s, 60.00% of 2s total\n", 1200 * time.Millisecond, 2 * time.Second},
		{"Active filters:\n   focus=argon2\nShowing nodes accounting for 850ms, 42.50% of 2000ms total\n", 850 * time.Millisecond, 2 * time.Second},
		{"Showing nodes accounting for 0, 0% of 0 total\n", 0, 0},
	}
	for _, c := range cases {
		focus, total, err := parsePprofTotals(c.out)
		if err != nil || focus != c.focus || total != c.total {
			t.Errorf("%q: %v %v %v, want %v %v", c.out, focus, total, err, c.focus, c.total)
		}
	}
	if _, _, err := parsePprofTotals("garbage"); err == nil {
		t.Error("garbage: no error")
	}
}

func TestOverloadFloors(t *testing.T) {
	rep := report{ServerCodes: map[string]float64{"200": 10, "499": 3}}
	rep.Scenarios = []scenario{
		{Name: overloadName("login", 32, false), Classes: map[string]int64{"ok": 100}, Overload: &overloadFigures{CeilingPct: 90}},
		{Name: overloadName("login", 500, false), Classes: map[string]int64{"ok": 100, "503": 50}, RetryAfter: [2]int64{50, 0},
			Served: latency{N: 100, P99: 900}, AuthRSS: 100, Overload: &overloadFigures{CeilingPct: 75}},
		{Name: overloadName("login", 500, true), Classes: map[string]int64{"ok": 100}, Overload: &overloadFigures{CeilingPct: 80}},
	}
	got := map[string]bool{}
	for _, f := range overloadFloors(rep) {
		key, _, _ := strings.Cut(f.Floor, ":")
		got[key] = f.Pass
	}
	want := map[string]bool{"logins at 32 clients": true, "logins, 500 clients ignoring Retry-After": true,
		"logins, 500 clients honouring Retry-After": false, "no 500 in auth-api's /metrics across the run (hang-ups are 499)": true}
	for k, v := range want {
		if p, ok := got[k]; !ok || p != v {
			t.Errorf("floor %q: pass %v (present %v), want %v", k, p, ok, v)
		}
	}
}

func TestPgbenchRefreshScriptBindsEveryParameter(t *testing.T) {
	s := pgbenchRefreshScript(refreshPrefixes[0])
	if strings.Contains(s, "$") {
		t.Fatalf("unbound parameter in the pgbench script:\n%s", s)
	}
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "WITH live AS") || !strings.HasSuffix(lines[2], `\gset r_`) || lines[3] != `\set n :next` {
		t.Fatalf("pgbench script is not the sets, the rotation checked by \\gset, the next token:\n%s", s)
	}
}

// The hash-alone reference runs one hash per scheduled start (5 in 50 ms at
// 100/s, a sixth when the last tick meets the deadline) and times it from
// that start; its figure joins the inbox floor's measurement only when the
// run measured it.
func TestHashAlone(t *testing.T) {
	cheap := passhash.Params{MemoryKiB: 64, Time: 1, Parallelism: 1}
	got := hashAlone(context.Background(), cheap, 100, 50*time.Millisecond)
	if got.N < 1 || got.N > 6 || got.P50 <= 0 || got.Max < got.P50 {
		t.Fatalf("hashAlone at 100/s for 50 ms = %+v, want up to 6 timed hashes", got)
	}
	with := scenario{Extra: map[string]any{"argon2id_alone_p99_ms": 123.0}}
	if n := hashAloneNote(with); !strings.Contains(n, "p99 123.0 ms") {
		t.Errorf("note with the figure = %q", n)
	}
	if n := hashAloneNote(scenario{}); n != "" {
		t.Errorf("note without the figure = %q, want none", n)
	}
}
