// Command loadtest drives the whole system on one machine (make load): it
// builds and starts both services as real processes with stack, measures the
// machine's own ceilings in the same run (argon2id on every core, pgbench on
// the verify transaction), runs each scenario, and writes a Markdown summary,
// a JSON file and the figures section of docs/BENCHMARKS.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/services/auth-api/passhash"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type config struct {
	Scenarios     []string
	Warmup        time.Duration
	Duration      time.Duration
	Concurrency   int
	Rate          float64
	CeilingTime   time.Duration
	VerifyTokens  int
	LoginAccounts int
	WrongAccounts int
	FloodClients  int
	StuffAttempts int
	StuffAccounts int
	Backlog       int
	Logouts       int
	Argon         passhash.Params
	Out           string
	Doc           string
	Build         bool
	Note          string
	Profile       bool
	AuthEnv       map[string]string
}

func parseFlags(args []string, getenv func(string) string) (config, error) {
	var c config
	allScenarios := []string{"signup", "verify", "login", "mixed", "flood", "overload-login", "overload-signup", "stuffing", "backlog", "check", "refresh", "logout", "capacity", "sigterm"}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios, run in the order given; known: "+strings.Join(allScenarios, ","))
	fs.DurationVar(&c.Warmup, "warmup", 3*time.Second, "warm-up before each timed scenario (not recorded)")
	fs.DurationVar(&c.Duration, "duration", 15*time.Second, "recorded time of each timed scenario")
	fs.IntVar(&c.Concurrency, "c", 8, "clients of the closed-loop scenarios")
	fs.Float64Var(&c.Rate, "rate", 0, "when > 0, run verify, login and mixed open loop at this many requests/s instead of closed loop")
	fs.DurationVar(&c.CeilingTime, "ceiling-time", 10*time.Second, "time of each ceiling measurement (argon2id, pgbench)")
	fs.IntVar(&c.VerifyTokens, "verify-tokens", 60000, "seeded verification tokens")
	fs.IntVar(&c.LoginAccounts, "login-accounts", 1000, "seeded accounts for right-password logins")
	fs.IntVar(&c.WrongAccounts, "wrong-accounts", 5000, "seeded accounts for wrong-password logins (spread so none locks)")
	fs.IntVar(&c.FloodClients, "flood", 1000, "concurrent clients of the flood scenario")
	fs.IntVar(&c.StuffAttempts, "stuff-attempts", 10000, "wrong-password attempts of the credential-stuffing run")
	fs.IntVar(&c.StuffAccounts, "stuff-accounts", 1000, "accounts attacked in the credential-stuffing run")
	fs.IntVar(&c.Backlog, "backlog", 100000, "user.created events of the notifier backlog scenario")
	fs.IntVar(&c.Logouts, "logouts", 1000, "logouts of the logout scenario (each one a login first)")
	mem := fs.Uint("argon2-memory-kib", 19456, "argon2id memory (auth-api's ARGON2_MEMORY_KIB)")
	tm := fs.Uint("argon2-time", 2, "argon2id iterations (ARGON2_TIME)")
	par := fs.Uint("argon2-parallelism", 1, "argon2id lanes (ARGON2_PARALLELISM)")
	fs.StringVar(&c.Out, "out", "loadtest/out", "directory for summary.md and results.json (relative to tools/)")
	fs.StringVar(&c.Doc, "doc", "../docs/BENCHMARKS.md", "benchmarks document whose generated section is replaced (empty: leave it)")
	fs.BoolVar(&c.Build, "build", true, "build bin/auth-api and bin/notifier first")
	authEnv := fs.String("auth-env", "", "extra auth-api environment, KEY=VALUE,… (e.g. HASH_QUEUE_TIMEOUT=500ms)")
	fs.BoolVar(&c.Profile, "profile", true, "save a CPU profile of auth-api over each timed scenario into -out")
	fs.StringVar(&c.Note, "note", getenv("LOADTEST_NOTE"), "a line about the conditions of this run, printed with the figures")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.AuthEnv = map[string]string{}
	for kv := range strings.SplitSeq(*authEnv, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			c.AuthEnv[k] = v
		} else if strings.TrimSpace(kv) != "" {
			return c, fmt.Errorf("-auth-env: %q is not KEY=VALUE", kv)
		}
	}
	c.Argon = passhash.Params{MemoryKiB: uint32(*mem), Time: uint32(*tm), Parallelism: uint8(*par)}
	for s := range strings.SplitSeq(*scen, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return c, fmt.Errorf("-scenarios: unknown %q (known: %s)", s, strings.Join(allScenarios, ","))
		}
		c.Scenarios = append(c.Scenarios, s)
	}
	return c, nil
}

// report is results.json.
type report struct {
	Date      time.Time       `json:"date"`
	Command   string          `json:"command"`
	Machine   machine         `json:"machine"`
	Note      string          `json:"note,omitempty"`
	Argon     passhash.Params `json:"argon2id"`
	Ceilings  ceilings        `json:"ceilings"`
	Scenarios []scenario      `json:"scenarios"`
	Failures  []string        `json:"failures,omitempty"`
	Floors    []floorCheck    `json:"floors"`
	// ServerCodes counts auth-api's answers by status over the run, from its
	// /metrics (read after each scenario, before any SIGTERM).
	ServerCodes map[string]float64 `json:"server_codes,omitempty"`
}

type machine struct {
	CPUs      int     `json:"cpus"`
	MemoryGiB float64 `json:"memory_gib"`
	Model     string  `json:"cpu_model"`
	Go        string  `json:"go"`
}

type ceilings struct {
	ArgonPerSec   float64 `json:"argon2id_hashes_per_s,omitempty"`
	PgbenchVerify float64 `json:"pgbench_verify_tps,omitempty"`
	// The check's ceiling: the signing key's raw signature verifications on
	// every core, and the refresh's: pgbench on the rotation's statements.
	SignatureVerify float64 `json:"signature_verifies_per_s,omitempty"`
	SignatureAlg    string  `json:"signature_alg,omitempty"`
	PgbenchRefresh  float64 `json:"pgbench_refresh_tps,omitempty"`
}

// needs reports whether any of the scenarios is selected.
func (c config) needs(scenarios ...string) bool {
	for _, s := range scenarios {
		if slices.Contains(c.Scenarios, s) {
			return true
		}
	}
	return false
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	rep := report{Date: time.Now().UTC().Truncate(time.Second), Command: commandLine(args), Machine: describeMachine(), Note: cfg.Note, Argon: cfg.Argon}

	authEnv := map[string]string{
		"ARGON2_MEMORY_KIB":  fmt.Sprint(cfg.Argon.MemoryKiB),
		"ARGON2_TIME":        fmt.Sprint(cfg.Argon.Time),
		"ARGON2_PARALLELISM": fmt.Sprint(cfg.Argon.Parallelism),
		// The stuffing run comes from many addresses through a proxy.
		"TRUSTED_PROXIES": "127.0.0.1/32",
		// No GOMEMLIMIT: every argon2id hash allocates 19 MiB afresh, and a
		// soft limit near the live heap (96 MiB was measured) makes the
		// runtime hand that memory back to the kernel and fault it in again
		// on every hash: runtime.memclrNoHeapPointers rose to 41 % of
		// auth-api's CPU and the useful login rate fell from 82 % to 37 % of
		// the ceiling. Set one with -auth-env GOMEMLIMIT=… to weigh memory
		// against rate.
	}
	tmp, err := os.MkdirTemp("", "loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// One signing key for every replica of the run (the logout scenario's
	// three verify each other's tokens).
	if authEnv["JWT_SIGNING_KEYS_FILE"], err = writeSigningKey(tmp); err != nil {
		return err
	}
	for k, v := range cfg.AuthEnv {
		authEnv[k] = v
	}
	// auth-api's pool holds as many connections as the pgbench ceilings
	// have clients (2 × -c), so that a scenario and its ceiling run the
	// same statements at the same database concurrency; pgx's default (4
	// on these cores) would make the pool, not the service, the limit.
	st, err := stack.Start(ctx, stack.Options{SkipBuild: !cfg.Build, Log: stdout, AuthEnv: authEnv, AuthPoolConns: 2 * cfg.Concurrency})
	if err != nil {
		return err
	}
	defer st.Close()
	r := &runner{st: st, api: newAPI(st.AuthURL(), 256), cfg: cfg, run: hex.EncodeToString(b), hash: passhash.Hash(seedPassword, cfg.Argon)}

	fmt.Fprintln(stdout, "loadtest: seeding accounts and tokens")
	if err := seed(ctx, st.PG.DatabaseURL, cfg); err != nil {
		return fmt.Errorf("seed: %w", err)
	}

	// The ceilings of the token scenarios are measured with them.
	if cfg.needs("signup", "verify", "login", "mixed", "flood", "stuffing", "sigterm") {
		fmt.Fprintf(stdout, "loadtest: ceilings (%s each): argon2id on %d cores, pgbench on the verify transaction\n", cfg.CeilingTime, runtime.NumCPU())
		rep.Ceilings.ArgonPerSec = round(argonRate(ctx, cfg.Argon, cfg.CeilingTime))
		tps, err := pgbenchRate(ctx, st.PG.DatabaseURL, cfg.VerifyTokens, 2*cfg.Concurrency, cfg.CeilingTime, tmp)
		if err != nil {
			return err
		}
		rep.Ceilings.PgbenchVerify = round(tps)
		fmt.Fprintf(stdout, "  argon2id %.1f hashes/s, pgbench verify %.0f tx/s\n", rep.Ceilings.ArgonPerSec, rep.Ceilings.PgbenchVerify)
	}

	add := func(sc scenario) {
		rep.Scenarios = append(rep.Scenarios, sc)
		fmt.Fprintf(stdout, "  %-40s %8.1f/s  p50 %7.1f ms  p99 %7.1f ms  %v\n", sc.Name, sc.Throughput, sc.Latency.P50, sc.Latency.P99, sc.Classes)
	}
	// A scenario that fails is reported and the run goes on: the figures
	// of the others are kept, and the run fails at its end.
	var failures []string
	failed := func(name string, err error) {
		failures = append(failures, name+": "+err.Error())
		fmt.Fprintf(stdout, "loadtest: %s failed: %v\n", name, err)
	}
	for _, name := range cfg.Scenarios {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(stdout, "loadtest: %s\n", name)
		switch name {
		case "signup":
			maxRun := r.signup(ctx, "signup: maximum rate", 0)
			add(maxRun)
			add(r.signup(ctx, "signup: half the maximum rate", max(1, maxRun.Throughput/2)))
		case "verify":
			add(r.verify(ctx))
		case "login":
			add(r.loginOK(ctx, "login: right password", cfg.Concurrency, nil))
			add(r.loginWrong(ctx))
			add(r.loginUnknown(ctx))
		case "mixed":
			add(r.mixed(ctx))
		case "flood":
			add(r.flood(ctx))
		case "overload-login", "overload-signup":
			for _, sc := range r.overload(ctx, strings.TrimPrefix(name, "overload-"), rep.Ceilings.ArgonPerSec) {
				add(sc)
			}
		case "stuffing":
			add(r.stuffing(ctx))
		case "backlog":
			sc, err := r.backlog(ctx, cfg.Backlog)
			if err != nil {
				failed(name, err)
				continue
			}
			add(sc)
		case "check":
			sc, err := r.checkScenario(ctx, &rep)
			if err != nil {
				failed(name, err)
				continue
			}
			fmt.Fprintf(stdout, "  raw %s signature verification %.0f/s\n", rep.Ceilings.SignatureAlg, rep.Ceilings.SignatureVerify)
			add(sc)
		case "refresh":
			sc, err := r.refreshScenario(ctx, &rep, tmp)
			if err != nil {
				failed(name, err)
				continue
			}
			fmt.Fprintf(stdout, "  pgbench refresh %.0f tx/s\n", rep.Ceilings.PgbenchRefresh)
			add(sc)
		case "logout":
			sc, err := r.logoutScenario(ctx, authEnv)
			if err != nil {
				failed(name, err)
				continue
			}
			add(sc)
		case "capacity":
			scs, err := r.capacityScenario(ctx, authEnv, func(f string, a ...any) { fmt.Fprintf(stdout, f+"\n", a...) })
			if err != nil {
				failed(name, err)
				continue
			}
			for _, sc := range scs {
				add(sc)
			}
		case "sigterm":
			add(r.sigterm(ctx, 20*time.Second))
		}
		if name != "sigterm" {
			if codes := serverCodes(ctx, st.Auth[0].AdminURL()); codes != nil {
				rep.ServerCodes = codes
			}
		}
	}
	rep.Failures = failures
	rep.Floors = checkFloors(rep)

	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(cfg.Out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	md := markdown(rep)
	if err := os.WriteFile(filepath.Join(cfg.Out, "summary.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, md)
	fmt.Fprintf(stdout, "loadtest: wrote %s and %s\n", filepath.Join(cfg.Out, "summary.md"), filepath.Join(cfg.Out, "results.json"))
	if cfg.Doc != "" {
		if err := updateDoc(cfg.Doc, md); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "loadtest: updated %s\n", cfg.Doc)
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d scenario(s) failed:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	return nil
}

func seed(ctx context.Context, dbURL string, cfg config) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	hash := passhash.Hash(seedPassword, cfg.Argon)
	for _, s := range []struct {
		prefix string
		n      int
		tokens bool
	}{
		{"lg", cfg.LoginAccounts, false}, {"lw", cfg.WrongAccounts, false}, {"st", cfg.StuffAccounts, false},
		{"vt", cfg.VerifyTokens, true}, {"mx", cfg.VerifyTokens, true}, {"pgb", cfg.VerifyTokens, true},
	} {
		if s.tokens {
			err = seedTokens(ctx, conn, s.prefix, s.n, hash)
		} else {
			err = seedAccounts(ctx, conn, s.prefix, s.n, hash)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.prefix, err)
		}
	}
	_, err = conn.Exec(ctx, "ANALYZE")
	return err
}

func commandLine(args []string) string {
	if len(args) == 0 {
		return "make load"
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if a == "" || strings.ContainsAny(a, " \t'\"$") {
			quoted[i] = `"` + strings.NewReplacer(`"`, `\"`, "$", `\$`).Replace(a) + `"`
		}
	}
	return "make load LOADFLAGS='" + strings.Join(quoted, " ") + "'"
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
				m.MemoryGiB = round(kb / (1 << 20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "model name"); ok {
				m.Model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
				break
			}
		}
	}
	return m
}
