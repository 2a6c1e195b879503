package stack

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Standby makes a streaming standby of the own server p: pg_basebackup -R
// into dir/data (which writes primary_conninfo and standby.signal), then
// starts it on a free port. Its DatabaseURL names the same database as p's.
// With synchronous set, p waits for the standby to confirm every commit
// (synchronous_standby_names = '*'), so a commit the client saw survives
// the primary's death; without it a failover may lose the last commits.
func (p *Postgres) Standby(ctx context.Context, dir string, synchronous bool) (*Postgres, error) {
	if !p.Own() {
		return nil, fmt.Errorf("postgres: a standby needs a server of its own")
	}
	if _, err := os.Stat(filepath.Join(p.bin, "pg_basebackup")); err != nil {
		return nil, fmt.Errorf("postgres: no pg_basebackup next to pg_ctl in %s (install the PostgreSQL server package): %w", p.bin, err)
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	s := &Postgres{dir: dir, bin: p.bin, port: port, name: p.name}
	if err := s.ownDir(); err != nil {
		return nil, err
	}
	if out, err := s.command(ctx, "pg_basebackup", "-h", "127.0.0.1", "-p", p.port, "-U", "postgres",
		"-D", filepath.Join(dir, "data"), "-R", "-X", "stream", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postgres: pg_basebackup: %w\n%s", err, out)
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	s.AdminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", port)
	if p.name != "" {
		s.DatabaseURL = strings.Replace(p.DatabaseURL, "127.0.0.1:"+p.port, "127.0.0.1:"+port, 1)
	}
	if err := p.waitStreaming(ctx); err != nil {
		_ = s.Stop(ctx)
		return nil, err
	}
	if synchronous {
		if err := p.exec(ctx, `ALTER SYSTEM SET synchronous_standby_names = '*'`, `SELECT pg_reload_conf()`); err != nil {
			_ = s.Stop(ctx)
			return nil, err
		}
	}
	return s, nil
}

func (p *Postgres) exec(ctx context.Context, stmts ...string) error {
	conn, err := pgx.Connect(ctx, p.AdminURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.Background())
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres: %s: %w", q, err)
		}
	}
	return nil
}

// waitStreaming waits until a standby streams from p.
func (p *Postgres) waitStreaming(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.AdminURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'`).Scan(&n); err != nil {
			return fmt.Errorf("postgres: pg_stat_replication: %w", err)
		}
		if n > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres: no standby streaming after a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Promote ends recovery on a standby (pg_ctl promote) and waits until it
// accepts writes.
func (p *Postgres) Promote(ctx context.Context) error {
	out, err := p.command(ctx, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-w", "-t", "60", "promote").CombinedOutput()
	if err != nil {
		return fmt.Errorf("postgres: promote: %w\n%s", err, out)
	}
	return nil
}

// Crash SIGKILLs the postmaster and every process it started, as the death
// of its machine would: no shutdown checkpoint, no goodbye to clients or to
// the standby.
func (p *Postgres) Crash() error {
	pid, err := p.postmaster()
	if err != nil {
		return err
	}
	children := childrenOf(pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("postgres: kill %d: %w", pid, err)
	}
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	return nil
}

// postmaster is the own server's postmaster pid.
func (p *Postgres) postmaster() (int, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("postgres: not running: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("postgres: postmaster.pid: %w", err)
	}
	return pid, nil
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so cut after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}

// Addr is the server's host:port.
func (p *Postgres) Addr() string { return "127.0.0.1:" + p.port }

// FailoverURL is a DATABASE_URL naming both servers, primary first, with
// target_session_attrs=read-write: a client dials each host in turn and
// keeps the one that accepts writes, so after a promotion it finds the new
// primary by itself.
func FailoverURL(primary, standby *Postgres) string {
	u := strings.Replace(primary.DatabaseURL, primary.Addr(), primary.Addr()+","+standby.Addr(), 1)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "target_session_attrs=read-write"
}
