package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func round(v float64) float64 { return math.Round(v*10) / 10 }

func mib(b int64) float64 { return round(float64(b) / (1 << 20)) }

// scrape reads one unlabelled sample (or the sum over its labels) from a
// Prometheus text endpoint.
func scrape(ctx context.Context, adminURL, name string) (float64, error) {
	samples, err := metricSamples(ctx, adminURL, name)
	if err != nil {
		return 0, err
	}
	if len(samples) == 0 {
		return 0, errors.New(name + " not found")
	}
	var sum float64
	for _, v := range samples {
		sum += v
	}
	return sum, nil
}

// scrapeAll reads every non-zero sample of a metric, keyed by its label set;
// none when the endpoint cannot be read.
func scrapeAll(ctx context.Context, adminURL, name string) map[string]float64 {
	samples, _ := metricSamples(ctx, adminURL, name)
	out := map[string]float64{}
	for k, v := range samples {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// metricSamples reads the samples of metric name from adminURL's /metrics,
// keyed by label set ("{…}", or "" for none).
func metricSamples(ctx context.Context, adminURL, name string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := fetch(ctx, adminURL+"/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		labels := rest[:strings.LastIndex(rest, "}")+1]
		f := strings.Fields(rest[len(labels):])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out[labels] = v
		}
	}
	return out, sc.Err()
}

// fetch GETs url; any status but 200 is an error.
func fetch(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Uncompressed: the tool reads /metrics every 250 ms during a scenario,
	// and gzipping it was 4 % of auth-api's CPU in the verify profile, on
	// the cores being measured.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return resp, nil
}

type floorCheck struct {
	Floor    string `json:"floor"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}

func find(rep report, prefix string) (scenario, bool) {
	i := slices.IndexFunc(rep.Scenarios, func(s scenario) bool { return strings.HasPrefix(s.Name, prefix) })
	if i < 0 {
		return scenario{}, false
	}
	return rep.Scenarios[i], true
}

// judgedCeiling is the argon2id ceiling a scenario is judged by: the one
// bracketing it, or the run's when it has none.
func judgedCeiling(rep report, s scenario) float64 {
	if s.Ceiling > 0 {
		return s.Ceiling
	}
	return rep.Ceilings.ArgonPerSec
}

// hashAloneNote is the argon2id-alone figure the half-rate signup run
// measured, as a clause of its floor's measurement.
func hashAloneNote(s scenario) string {
	p99, ok := s.Extra["argon2id_alone_p99_ms"].(float64)
	if !ok {
		return ""
	}
	return fmt.Sprintf("; argon2id alone at this rate: p99 %.1f ms", p99)
}

// checkFloors compares the run against issue 5's floors, as ratios to the
// ceilings measured in the same run where the floor is one.
func checkFloors(rep report) []floorCheck {
	var out []floorCheck
	ratio := func(floor string, v, ceiling, min float64) {
		if ceiling <= 0 {
			return
		}
		r := v / ceiling
		out = append(out, floorCheck{floor, fmt.Sprintf("%.1f/s ÷ %.1f/s = %.0f%%", v, ceiling, 100*r), r >= min})
	}
	if s, ok := find(rep, "login: right password"); ok {
		ratio("login ≥ 85% of the raw argon2id rate", s.Throughput, judgedCeiling(rep, s), 0.85)
	}
	if s, ok := find(rep, "signup: maximum rate"); ok {
		ratio("signup ≥ 80% of the raw argon2id rate", s.Throughput, judgedCeiling(rep, s), 0.80)
	}
	if s, ok := find(rep, "verify"); ok {
		ratio("verify ≥ 50% of the same-statement pgbench rate", s.Throughput, rep.Ceilings.PgbenchVerify, 0.50)
	}
	if s, ok := find(rep, "signup: half"); ok && s.Inbox != nil {
		out = append(out, floorCheck{"signup-to-inbox p99 ≤ 150 ms at half the maximum signup rate",
			fmt.Sprintf("p99 %.1f ms over %d mails (Agent p99 %.1f ms)%s", s.Inbox.P99, s.Inbox.N, s.Agent.P99, hashAloneNote(s)), s.Inbox.N > 0 && s.Inbox.P99 <= 150})
	}
	if s, ok := find(rep, "notifier backlog"); ok {
		out = append(out, floorCheck{"backlog drains at ≥ 1,000 events/s per replica, email and Agent both done",
			fmt.Sprintf("%.0f events/s (%d events, %.1f s)", s.Throughput, s.Requests, s.Seconds), s.Throughput >= 1000})
		out = append(out, floorCheck{"notifier RSS < 128 MiB with the backlog",
			fmt.Sprintf("%.1f MiB", s.NotifierRSS), s.NotifierRSS > 0 && s.NotifierRSS < 128})
	}
	if s, ok := find(rep, "flood"); ok {
		bad := s.Classes["5xx"] + s.Classes["4xx"] + s.Classes["conn_error"] + s.Classes["timeout"] + s.Classes["other"]
		out = append(out,
			floorCheck{"flood: auth-api RSS < 256 MiB", fmt.Sprintf("%.1f MiB", s.AuthRSS), s.AuthRSS > 0 && s.AuthRSS < 256},
			floorCheck{"flood: p99 of served requests < 1 s", fmt.Sprintf("%.1f ms", s.Served.P99), s.Served.N > 0 && s.Served.P99 < 1000},
			floorCheck{"flood: excess gets 503/429 with Retry-After, nothing else fails",
				fmt.Sprintf("%d shed with Retry-After, %d without, %d other failures", s.RetryAfter[0], s.RetryAfter[1], bad), s.RetryAfter[1] == 0 && bad == 0})
	}
	w, ok1 := find(rep, "login: wrong password")
	u, ok2 := find(rep, "login: unknown email")
	if ok1 && ok2 && w.Latency.P50 > 0 {
		d := (u.Latency.P50 - w.Latency.P50) / w.Latency.P50
		out = append(out, floorCheck{"median login time, unknown email within 10% of wrong password",
			fmt.Sprintf("%.1f ms vs %.1f ms (%+.1f%%)", u.Latency.P50, w.Latency.P50, 100*d), math.Abs(d) <= 0.10})
	}
	if s, ok := find(rep, "ingress check"); ok {
		out = append(out, floorCheck{"ingress check ≥ 8,000 checks/s at p99 ≤ 10 ms",
			fmt.Sprintf("%.0f/s, p99 %.1f ms", s.Throughput, s.Latency.P99), s.Throughput >= 8000 && s.Latency.N > 0 && s.Latency.P99 <= 10})
		ratio(fmt.Sprintf("ingress check ≥ 50%% of the raw %s signature verification rate", rep.Ceilings.SignatureAlg), s.Throughput, rep.Ceilings.SignatureVerify, 0.50)
	}
	if s, ok := find(rep, "token refresh"); ok {
		ratio("refresh ≥ 40% of the same-statement pgbench rate", s.Throughput, rep.Ceilings.PgbenchRefresh, 0.40)
	}
	if s, ok := find(rep, "logout → 401"); ok {
		out = append(out, floorCheck{"logout → 401 from the check on each of 3 replicas: p99 ≤ 1 s over ≥ 1,000 logouts, checks under load",
			fmt.Sprintf("p99 %.1f ms over %d logouts × 3 replicas (max %.1f ms, %v failed)", s.Latency.P99, s.Requests, s.Latency.Max, s.Extra["logouts_failed"]),
			s.Requests >= 1000 && s.Extra["logouts_failed"] == int64(0) && s.Latency.N > 0 && s.Latency.P99 <= 1000})
	}
	out = append(out, capacityFloor(rep)...)
	if s, ok := find(rep, "SIGTERM"); ok {
		pass := true
		var parts []string
		for _, name := range sortedKeys(s.Extra) {
			e := s.Extra[name].(map[string]any)
			pass = pass && e["within_timeout"].(bool)
			parts = append(parts, fmt.Sprintf("%s %.1f s (%s)", name, e["seconds"], e["status"]))
		}
		out = append(out, floorCheck{"SIGTERM under load: both exit within their shutdown timeout (20 s)", strings.Join(parts, ", "), pass})
	}
	if s, ok := find(rep, "credential stuffing"); ok && s.Extra != nil {
		lc := s.Extra["legit_classes"].(map[string]int64)
		share := s.Extra["owner_success_pct"].(float64)
		out = append(out, floorCheck{"credential stuffing: the owners, with their device cookies, log in ≥ 99 % of the time",
			fmt.Sprintf("%.1f %% of %d owner logins ok (%s; %d refused by the lockout; %d answered 503 first, then retried after Retry-After); attackers: %d answers 429; locks %v",
				share, s.Extra["legit_logins"], classes(lc), s.Extra["owner_refused_by_lockout"], s.Extra["owner_first_try_503"], s.Classes["429"], s.Extra["lockouts"]),
			share >= 99})
	}
	return append(out, overloadFloors(rep)...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func classes(m map[string]int64) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		if k != "ok" {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

func markdown(rep report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run on %s, %d cores (%s), %.1f GiB memory, %s.  \n", rep.Date.Format("2006-01-02 15:04 MST"), rep.Machine.CPUs, rep.Machine.Model, rep.Machine.MemoryGiB, rep.Machine.Go)
	fmt.Fprintf(&b, "Command: `%s` · argon2id m=%d KiB, t=%d, p=%d.\n", rep.Command, rep.Argon.MemoryKiB, rep.Argon.Time, rep.Argon.Parallelism)
	if rep.Note != "" {
		fmt.Fprintf(&b, "\n> %s\n", rep.Note)
	}
	fmt.Fprintf(&b, "\n#### Ceilings measured in the same run\n\n| ceiling | rate |\n|---|---|\n")
	if rep.Ceilings.ArgonPerSec > 0 {
		fmt.Fprintf(&b, "| argon2id, configured parameters, all %d cores, at the start (each hashing scenario is judged by its own, measured just before and after it: see its extras) | %.1f hashes/s |\n", rep.Machine.CPUs, rep.Ceilings.ArgonPerSec)
		fmt.Fprintf(&b, "| pgbench, the verify transaction (prepared) | %.0f tx/s |\n", rep.Ceilings.PgbenchVerify)
	}
	if rep.Ceilings.SignatureVerify > 0 {
		fmt.Fprintf(&b, "| %s signature verification, the signing key, all %d cores | %.0f/s |\n", rep.Ceilings.SignatureAlg, rep.Machine.CPUs, rep.Ceilings.SignatureVerify)
	}
	if rep.Ceilings.PgbenchRefresh > 0 {
		fmt.Fprintf(&b, "| pgbench, the refresh-token rotation (prepared), mean of runs just before and after the refresh scenario | %.0f tx/s |\n", rep.Ceilings.PgbenchRefresh)
	}

	if len(rep.Failures) > 0 {
		fmt.Fprintf(&b, "\n**Scenarios that failed to run:**\n\n")
		for _, f := range rep.Failures {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(f, "\n", " "))
		}
	}
	fmt.Fprintf(&b, "\n#### Floors\n\n| floor | measured | |\n|---|---|---|\n")
	for _, f := range rep.Floors {
		mark := "✅"
		if !f.Pass {
			mark = "❌"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", f.Floor, f.Measured, mark)
	}

	fmt.Fprintf(&b, "\n#### Scenarios\n\n| scenario | mode | s | requests | expected/s | p50 | p90 | p99 | max | not as expected | 429/503 with / without Retry-After | inbox p50 / p99 | Agent p50 / p99 | peak RSS auth-api / notifier | outbox backlog max |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range rep.Scenarios {
		if s.Name == "SIGTERM under load" {
			continue
		}
		inbox, agent := "—", "—"
		if s.Inbox != nil && s.Inbox.N > 0 {
			inbox = fmt.Sprintf("%.1f / %.1f ms", s.Inbox.P50, s.Inbox.P99)
		}
		if s.Agent != nil && s.Agent.N > 0 {
			agent = fmt.Sprintf("%.1f / %.1f ms", s.Agent.P50, s.Agent.P99)
		}
		lat := "— | — | — | —"
		if s.Latency.N > 0 {
			lat = fmt.Sprintf("%.1f ms | %.1f ms | %.1f ms | %.1f ms", s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max)
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %d | %.1f | %s | %s | %d / %d | %s | %s | %.0f / %.0f MiB | %.0f |\n",
			s.Name, s.Mode, s.Seconds, s.Requests, s.Throughput, lat,
			classes(s.Classes), s.RetryAfter[0], s.RetryAfter[1], inbox, agent, s.AuthRSS, s.NotifierRSS, s.OutboxMax)
	}
	b.WriteString(overloadTable(rep))
	for _, s := range rep.Scenarios {
		if len(s.Extra) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s:", s.Name)
		for _, k := range sortedKeys(s.Extra) {
			fmt.Fprintf(&b, " %s=%v;", k, s.Extra[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}

const (
	docBegin = "<!-- loadtest:begin (generated by make load; edit outside these markers) -->"
	docEnd   = "<!-- loadtest:end -->"
)

// updateDoc replaces the generated section of the benchmarks document,
// keeping everything written around it by hand.
func updateDoc(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	doc := string(b)
	section := docBegin + "\n" + md + docEnd
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i >= 0 && j > i {
		doc = doc[:i] + section + doc[j+len(docEnd):]
	} else {
		doc += "\n## Latest load run\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
