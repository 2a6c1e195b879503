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
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

type argonParams struct {
	MemoryKiB   uint32 `json:"memory_kib"`
	Time        uint32 `json:"time"`
	Parallelism uint8  `json:"parallelism"`
}

// argonRate computes argon2id hashes with p on every core for d and returns
// hashes per second: the ceiling for login and signup on this machine.
func argonRate(ctx context.Context, p argonParams, d time.Duration) float64 {
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			salt := make([]byte, 16)
			for ctx.Err() == nil {
				argon2.IDKey([]byte(seedPassword), salt, p.Time, p.MemoryKiB, p.Parallelism, 32)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// pgbenchScript is auth-api's verify transaction (postgres.ConsumeToken): use
// the token, verify its account, revoke the account's other tokens. Tokens
// are drawn at random from seeded ones, so a few are drawn twice and then
// only find nothing to update, as a repeated click would.
const pgbenchScript = `\set id random(1, :ntokens)
BEGIN;
UPDATE verification_tokens SET used_at = now() WHERE token_hash = sha256(sha256(convert_to('pgb' || :id, 'UTF8'))) AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now() RETURNING uid::text;
UPDATE users SET verified_at = coalesce(verified_at, now()), updated_at = now() WHERE uid = md5('pgb' || :id)::uuid;
UPDATE verification_tokens SET revoked_at = now() WHERE uid = md5('pgb' || :id)::uuid AND used_at IS NULL AND revoked_at IS NULL;
COMMIT;
`

// pgbenchRate runs the verify transaction with pgbench (prepared statements,
// clients connections) against dbURL for d and returns transactions/s.
func pgbenchRate(ctx context.Context, dbURL string, ntokens, clients int, d time.Duration, dir string) (float64, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		return 0, fmt.Errorf("pgbench not found (apt-get install postgresql-contrib or postgresql-client): %w", err)
	}
	script := filepath.Join(dir, "verify.pgbench")
	if err := os.WriteFile(script, []byte(pgbenchScript), 0o644); err != nil {
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
