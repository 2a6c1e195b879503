package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kairos-platform/identity/services/auth-api/passhash"
	"github.com/kairos-platform/identity/services/auth-api/verifysql"
)

// argonRate computes auth-api's password hashes with p on every core for d
// and returns hashes per second: the ceiling for login and signup on this
// machine.
func argonRate(ctx context.Context, p passhash.Params, d time.Duration) float64 {
	_, rate := hashCost(ctx, p, d)
	return rate
}

// hashCost runs argon2id on every core for d and returns the CPU time one
// hash takes and the hashes/s: CPU time, not wall time, so that other work
// on the machine changes the rate but hardly the cost.
func hashCost(ctx context.Context, p passhash.Params, d time.Duration) (time.Duration, float64) {
	cpu0 := generatorCPU()
	n, rate := onEveryCore(ctx, d, func() { passhash.Hash(seedPassword, p) })
	if n == 0 {
		return 0, 0
	}
	return (generatorCPU() - cpu0) / time.Duration(n), rate
}

// onEveryCore runs f in a loop on every core for d and returns how many
// times it ran and the runs per second.
func onEveryCore(ctx context.Context, d time.Duration, f func()) (int64, float64) {
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for ctx.Err() == nil {
				f()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), float64(n.Load()) / time.Since(start).Seconds()
}

// hashAlone computes argon2id with p open loop at rate for d, on the
// scenarios' own open-loop schedule, at most one hash per core at once as
// auth-api's hasher allows, and returns each hash's time from its scheduled
// start. It is what the host alone does to the first step of a signup at
// that rate: on a host whose memory stalls now and then, a hash that takes
// 27 ms at the median takes 100 ms or more at the p99 with nothing else
// running, and the signup-to-inbox latency inherits that.
func hashAlone(ctx context.Context, p passhash.Params, rate float64, d time.Duration) latency {
	slots := make(chan struct{}, runtime.NumCPU())
	res := drive(ctx, shape{Rate: rate, Duration: d}, func(context.Context, int64) outcome {
		slots <- struct{}{}
		defer func() { <-slots }()
		passhash.Hash(seedPassword, p)
		return outcome{ok: true}
	})
	return summarize(res.Served)
}

// pgbenchScript is auth-api's verify transaction, its own statements with
// the parameters bound to pgbench expressions for seeded token :id (see
// seedTokens): the token's hash, its account's uid, and now(). Tokens are
// drawn at random from the seeded ones, so a few are drawn twice and then
// only find nothing to update, as a repeated click would.
func pgbenchScript() string {
	token := strings.NewReplacer("$1", "sha256(sha256(convert_to('pgb' || :id, 'UTF8')))", "$2", "now()")
	account := strings.NewReplacer("$1", "md5('pgb' || :id)::uuid", "$2", "now()")
	var b strings.Builder
	b.WriteString("\\set id random(1, :ntokens)\nBEGIN;\n")
	for _, stmt := range []string{
		token.Replace(verifysql.ConsumeToken),
		account.Replace(verifysql.VerifyAccount),
		account.Replace(verifysql.RevokeOtherTokens),
	} {
		b.WriteString(strings.Join(strings.Fields(stmt), " ") + ";\n")
	}
	b.WriteString("COMMIT;\n")
	return b.String()
}

// pgbenchRate runs the verify transaction with pgbench (prepared statements,
// clients connections) against dbURL for d and returns transactions/s.
func pgbenchRate(ctx context.Context, dbURL string, ntokens, clients int, d time.Duration, dir string) (float64, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		return 0, fmt.Errorf("pgbench not found (apt-get install postgresql-contrib or postgresql-client): %w", err)
	}
	script := filepath.Join(dir, "verify.pgbench")
	if err := os.WriteFile(script, []byte(pgbenchScript()), 0o644); err != nil {
		return 0, err
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return 0, err
	}
	args := []string{"-n", "-M", "prepared", "-f", script, "-D", fmt.Sprintf("ntokens=%d", ntokens),
		"-c", strconv.Itoa(clients), "-j", strconv.Itoa(runtime.NumCPU()), "-T", strconv.Itoa(int(d.Seconds())),
		"-h", u.Hostname(), "-p", u.Port(), "-U", u.User.Username(), u.Path[1:]}
	cmd := exec.CommandContext(ctx, bin, args...)
	if pw, ok := u.User.Password(); ok {
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench: no tps in output:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
