package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The overload scenarios push one endpoint that hashes a password (login or
// signup) with closed-loop clients at 8, 32 and 500 that ignore Retry-After
// (they send again at once) and 500 that honour it. What users feel is the
// useful rate, so that is reported as a share of the argon2id ceiling of the
// same run, with the served latency, the refusals a second, and where the
// CPU went: auth-api's, split into hashing and everything else from the CPU
// profile taken over the scenario, and the generator's own (nothing is
// subtracted; on one machine the generator competes with the server).

// overloadFigures is what an overload scenario adds to its record.
type overloadFigures struct {
	Clients        int     `json:"clients"`
	Polite         bool    `json:"honours_retry_after"`
	UsefulPerSec   float64 `json:"useful_per_s"`
	CeilingPct     float64 `json:"ceiling_pct"`
	RefusalsPerSec float64 `json:"refusals_per_s"`
	ServerCores    float64 `json:"auth_api_cpu_cores"`
	HashingPct     float64 `json:"auth_api_hashing_pct"`
	GeneratorCores float64 `json:"generator_cpu_cores"`
}

// overload runs the endpoint what ("login" or "signup") at each load.
func (r *runner) overload(ctx context.Context, what string, ceiling float64) []scenario {
	var out []scenario
	for _, c := range []struct {
		n      int
		polite bool
	}{{8, false}, {32, false}, {500, false}, {500, true}} {
		if ctx.Err() != nil {
			break
		}
		out = append(out, r.overloadRun(ctx, what, c.n, c.polite, ceiling))
	}
	return out
}

func overloadName(what string, n int, polite bool) string {
	kind := "impatient"
	if polite {
		kind = "polite"
	}
	return fmt.Sprintf("overload %s: %d %s clients", what, n, kind)
}

func (r *runner) overloadRun(ctx context.Context, what string, n int, polite bool, ceiling float64) scenario {
	name := overloadName(what, n, polite)
	client := newAPI(r.api.base, n)
	want := expect(is(200))
	o := func(ctx context.Context, i int64) outcome {
		var body map[string]string
		path := "/api/login/"
		if what == "login" {
			body = map[string]string{"email": fmt.Sprintf("lg%d@load.test", 1+i%int64(r.cfg.LoginAccounts)), "password": seedPassword}
		} else {
			j := r.signups.Add(1)
			path = "/api/signup/"
			body = map[string]string{"username": fmt.Sprintf("ov%d", j), "email": fmt.Sprintf("ov-%s-%d@load.test", r.run, j), "password": seedPassword}
		}
		st, ra, err := client.postRetry(ctx, path, body)
		out := want(st, ra > 0, err)
		if polite {
			out.pause = ra
		}
		return out
	}
	s := shape{Concurrency: n, Warmup: r.cfg.Warmup, Duration: r.cfg.Duration, Ceiling: r.argonCeiling}
	sc := r.measure(ctx, name, s, o)
	gen := sc.genCores

	f := &overloadFigures{Clients: n, Polite: polite, UsefulPerSec: sc.Throughput, GeneratorCores: round2(gen)}
	if sc.Ceiling > 0 {
		ceiling = sc.Ceiling
	}
	if ceiling > 0 {
		f.CeilingPct = round(100 * sc.Throughput / ceiling)
	}
	if sc.Seconds > 0 {
		f.RefusalsPerSec = round(float64(sc.Classes["429"]+sc.Classes["503"]) / sc.Seconds)
	}
	if r.cfg.Profile {
		total, hashing, err := profileSplit(ctx, filepath.Join(r.cfg.Out, "auth-api-"+slug(name)+".pprof"))
		if err == nil && total > 0 {
			f.ServerCores = round2(total.Seconds() / (s.Duration - time.Second).Seconds())
			f.HashingPct = round(100 * hashing.Seconds() / total.Seconds())
		}
	}
	sc.Overload = f
	sc.Mode = fmt.Sprintf("closed loop, %d clients, Retry-After %s", n, map[bool]string{true: "honoured", false: "ignored"}[polite])
	return sc
}

// postRetry posts a JSON body and returns the status and the Retry-After
// it carried (0 when none).
func (a *api) postRetry(ctx context.Context, path string, body any) (int, time.Duration, error) {
	st, _, hdr, err := a.postHeader(ctx, path, body)
	if err != nil || hdr == nil {
		return st, 0, err
	}
	secs, _ := strconv.Atoi(hdr.Get("Retry-After"))
	return st, time.Duration(secs) * time.Second, nil
}

// generatorCPU is the CPU time this process (the load generator, with the
// SMTP sink and the fake Agent it hosts) has used so far.
func generatorCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profileSplit reads a CPU profile of auth-api with go tool pprof and
// returns the CPU time it holds and the part spent in argon2id.
func profileSplit(ctx context.Context, file string) (total, hashing time.Duration, err error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	read := func(args ...string) (focus, all time.Duration, err error) {
		out, err := exec.CommandContext(ctx, goBin, append(append([]string{"tool", "pprof", "-top", "-nodecount=1000000"}, args...), file)...).CombinedOutput()
		if err != nil {
			return 0, 0, fmt.Errorf("pprof %s: %w\n%s", file, err, out)
		}
		return parsePprofTotals(string(out))
	}
	if _, total, err = read(); err != nil {
		return 0, 0, err
	}
	hashing, _, err = read("-focus=golang.org/x/crypto/argon2")
	return total, hashing, err
}

// pprofTotals matches pprof's "Showing nodes accounting for 1.20s, 60.00% of
// 2s total" line: with -focus the first figure is the focused part.
var pprofTotals = regexp.MustCompile(`accounting for ([0-9.]+[a-zµ]*s), [0-9.]+% of ([0-9.]+[a-zµ]*s) total`)

func parsePprofTotals(out string) (focus, total time.Duration, err error) {
	m := pprofTotals.FindStringSubmatch(out)
	if m == nil {
		if strings.Contains(out, "total") { // an empty focus: "of 0 total"
			return 0, 0, nil
		}
		return 0, 0, fmt.Errorf("pprof: no totals in %q", out)
	}
	if focus, err = time.ParseDuration(m[1]); err == nil {
		total, err = time.ParseDuration(m[2])
	}
	return focus, total, err
}

func round2(v float64) float64 { return float64(int(v*100+0.5)) / 100 }

// serverCodes sums auth-api's request counts by status code ("500", "499",
// …) from its /metrics; nil when it cannot be read.
func serverCodes(ctx context.Context, adminURL string) map[string]float64 {
	samples, err := metricSamples(ctx, adminURL, "http_server_request_duration_seconds_count")
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	code := regexp.MustCompile(`code="(\d+)"`)
	for labels, v := range samples {
		if m := code.FindStringSubmatch(labels); m != nil {
			out[m[1]] += v
		}
	}
	return out
}

// overloadTable is the Markdown table of the overload scenarios.
func overloadTable(rep report) string {
	var b strings.Builder
	for _, s := range rep.Scenarios {
		f := s.Overload
		if f == nil {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n#### Overload (useful work at each load)\n\n")
			b.WriteString("| scenario | useful/s | % of argon2id ceiling | served p50 | served p99 | refusals/s | 429/503 without Retry-After | other failures | auth-api CPU (cores): hashing / rest | generator CPU (cores) | peak RSS auth-api |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
		}
		hashing := f.ServerCores * f.HashingPct / 100
		fmt.Fprintf(&b, "| %s | %.1f | %.0f%% | %.1f ms | %.1f ms | %.1f | %d | %d | %.2f / %.2f | %.2f | %.0f MiB |\n",
			s.Name, f.UsefulPerSec, f.CeilingPct, s.Served.P50, s.Served.P99, f.RefusalsPerSec, s.RetryAfter[1], otherFailures(s),
			hashing, f.ServerCores-hashing, f.GeneratorCores, s.AuthRSS)
	}
	if len(rep.ServerCodes) > 0 {
		fmt.Fprintf(&b, "\nauth-api's /metrics over the whole run: %.0f × 500, %.0f × 499 (client closed request).\n", rep.ServerCodes["500"], rep.ServerCodes["499"])
	}
	return b.String()
}

// otherFailures are answers that are neither expected nor a refusal.
func otherFailures(s scenario) int64 {
	return s.Classes["5xx"] + s.Classes["4xx"] + s.Classes["conn_error"] + s.Classes["timeout"] + s.Classes["other"]
}

// overloadFloors are the floors of the overload scenarios, as ratios to the
// argon2id ceiling of the same run.
func overloadFloors(rep report) []floorCheck {
	var out []floorCheck
	for _, what := range []string{"login", "signup"} {
		if s, ok := find(rep, overloadName(what, 32, false)); ok && s.Overload != nil {
			refused := s.Classes["429"] + s.Classes["503"]
			out = append(out, floorCheck{what + "s at 32 clients: ≥ 85% of the argon2id ceiling, no refusals",
				fmt.Sprintf("%.0f%%, %d refused", s.Overload.CeilingPct, refused), s.Overload.CeilingPct >= 85 && refused == 0})
		}
		if s, ok := find(rep, overloadName(what, 500, false)); ok && s.Overload != nil {
			out = append(out, floorCheck{what + "s, 500 clients ignoring Retry-After: ≥ 70% of the ceiling, served p99 ≤ 1 s, RSS ≤ 128 MiB, every refusal 503/429 with Retry-After",
				fmt.Sprintf("%.0f%%, p99 %.0f ms, %.0f MiB, %d refusals without Retry-After, %d other failures", s.Overload.CeilingPct, s.Served.P99, s.AuthRSS, s.RetryAfter[1], otherFailures(s)),
				s.Overload.CeilingPct >= 70 && s.Served.N > 0 && s.Served.P99 <= 1000 && s.AuthRSS > 0 && s.AuthRSS <= 128 && s.RetryAfter[1] == 0 && otherFailures(s) == 0})
		}
		if s, ok := find(rep, overloadName(what, 500, true)); ok && s.Overload != nil {
			out = append(out, floorCheck{what + "s, 500 clients honouring Retry-After: ≥ 85% of the ceiling",
				fmt.Sprintf("%.0f%%", s.Overload.CeilingPct), s.Overload.CeilingPct >= 85})
		}
	}
	if rep.ServerCodes != nil {
		out = append(out, floorCheck{"no 500 in auth-api's /metrics across the run (hang-ups are 499)",
			fmt.Sprintf("%.0f × 500, %.0f × 499", rep.ServerCodes["500"], rep.ServerCodes["499"]), rep.ServerCodes["500"] == 0})
	}
	return out
}
