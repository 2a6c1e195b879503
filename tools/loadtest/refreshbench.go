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
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/services/auth-api/refreshsql"
)

// refreshPrefixes name the pgbench clients' accounts, sessions and tokens:
// one set for the run before the refresh scenario, one for the run after.
var refreshPrefixes = [2]string{"pgr", "pgs"}

// pgbenchRefreshScript rotates one chain of refresh tokens per pgbench
// client with the statement auth-api rotates a live token with
// (refreshsql.Rotate, one statement in its own transaction as there):
// client c (0-based) owns login pgr<c+1>, and its k-th token is SHA-256 of
// "pgr-<c+1>-<k>"; :n, carried from one transaction of the client to the
// next, is the live one. \gset fails the transaction when the statement
// rotates nothing, so a broken chain cannot pass for a fast one.
func pgbenchRefreshScript(prefix string) string {
	tok := func(v string) string {
		return "sha256(convert_to('" + prefix + "-' || :i || '-' || :" + v + ", 'UTF8'))"
	}
	stmt := strings.NewReplacer(
		"$1", tok("n"),
		"$2", "'720 hours'",
		"$3", tok("next"),
		// The sealed successor is 60 bytes in the service (AES-GCM of 32).
		"$4", "substr("+tok("next")+" || "+tok("n")+", 1, 60)",
	).Replace(refreshsql.Rotate)
	return "\\set i :client_id + 1\n\\set next :n + 1\n" +
		strings.Join(strings.Fields(stmt), " ") + " \\gset r_\n\\set n :next\n"
}

// seedRefreshChains gives each of clients pgbench clients a verified
// account, a live login and its first refresh token.
func seedRefreshChains(ctx context.Context, dbURL, prefix string, clients int, hash string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if err := seedAccounts(ctx, conn, prefix, clients, hash); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `
		INSERT INTO sessions (id, uid, expires_at, absolute_expires_at)
		SELECT md5($1 || 's' || i)::uuid, md5($1 || i)::uuid, now() + interval '720 hours', now() + interval '2160 hours'
		FROM generate_series(1, $2::int) AS i`, prefix, clients); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
		SELECT sha256(convert_to($1 || '-' || i || '-0', 'UTF8')), md5($1 || 's' || i)::uuid, now() + interval '720 hours'
		FROM generate_series(1, $2::int) AS i`, prefix, clients)
	return err
}

// pgbenchRefreshRate seeds the chains and runs the rotation with pgbench
// (prepared statements, clients connections) for d: transactions/s.
func pgbenchRefreshRate(ctx context.Context, dbURL, prefix string, clients int, d time.Duration, dir string, hash string) (float64, error) {
	if err := seedRefreshChains(ctx, dbURL, prefix, clients, hash); err != nil {
		return 0, fmt.Errorf("pgbench refresh: seed: %w", err)
	}
	script := filepath.Join(dir, "refresh-"+prefix+".pgbench")
	if err := os.WriteFile(script, []byte(pgbenchRefreshScript(prefix)), 0o644); err != nil {
		return 0, err
	}
	return runPgbench(ctx, dbURL, script, clients, max(1, int(d.Seconds())), "n=0")
}

// runPgbench runs script with pgbench and returns its tps.
func runPgbench(ctx context.Context, dbURL, script string, clients, secs int, defs ...string) (float64, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		return 0, fmt.Errorf("pgbench not found (apt-get install postgresql-contrib or postgresql-client): %w", err)
	}
	host, port, user, db, pw, err := pgTarget(dbURL)
	if err != nil {
		return 0, err
	}
	args := []string{"-n", "-M", "prepared", "-f", script}
	for _, d := range defs {
		args = append(args, "-D", d)
	}
	args = append(args, "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, runtime.NumCPU())), "-T", strconv.Itoa(secs),
		"-h", host, "-p", port, "-U", user, db)
	cmd := exec.CommandContext(ctx, bin, args...)
	if pw != "" {
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
	if f := regexp.MustCompile(`number of failed transactions: ([1-9][0-9]*)`).FindSubmatch(out); f != nil {
		return 0, fmt.Errorf("pgbench: %s failed transactions:\n%s", f[1], out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// pgTarget splits a PostgreSQL URL into pgbench's connection arguments.
func pgTarget(dbURL string) (host, port, user, db, password string, err error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", "", "", "", "", err
	}
	password, _ = u.User.Password()
	return u.Hostname(), u.Port(), u.User.Username(), strings.TrimPrefix(u.Path, "/"), password, nil
}
