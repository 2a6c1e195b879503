package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/pgtest"
)

// Postgres is the database the services use: either a fresh database on the
// machine's server, or a whole server of its own (for faults that restart it).
type Postgres struct {
	AdminURL    string // a superuser URL to the server's postgres database
	DatabaseURL string // the services' database
	name        string

	// own instance only
	dir, bin, port string
	runAs          string // user to run the server as when we are root
}

// SharedDatabase creates kairos_load_<random> on the machine's server
// (pgtest.ServerURL) and migrates it.
func SharedDatabase(ctx context.Context) (*Postgres, error) {
	p := &Postgres{AdminURL: pgtest.ServerURL()}
	return p, p.createDatabase(ctx)
}

func (p *Postgres) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.AdminURL)
	if err != nil {
		return fmt.Errorf("postgres: %s is not reachable: %w (start it, e.g. pg_ctlcluster 15 main start, or set KAIROS_TEST_DATABASE_URL)", pgtest.Redact(p.AdminURL), err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	p.name = "kairos_load_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+p.name); err != nil {
		return fmt.Errorf("postgres: create database: %w", err)
	}
	p.DatabaseURL = pgtest.WithDatabase(p.AdminURL, p.name)
	if err := migrations.UpURL(ctx, p.DatabaseURL); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// DropDatabase removes the services' database.
func (p *Postgres) DropDatabase(ctx context.Context) error {
	if p.name == "" {
		return nil
	}
	conn, err := pgx.Connect(ctx, p.AdminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+p.name+" WITH (FORCE)")
	return err
}

// OwnServer runs initdb into dir and starts a server of its own on a free
// port, with a fresh migrated database. PostgreSQL refuses to run as root,
// so as root it runs as the "postgres" system user.
func OwnServer(ctx context.Context, dir string) (*Postgres, error) {
	p, err := StartServer(ctx, dir)
	if err != nil {
		return nil, err
	}
	if err := p.createDatabase(ctx); err != nil {
		_ = p.Stop(ctx)
		return nil, err
	}
	return p, nil
}

// HasServerBinaries reports whether PostgreSQL's server programs are
// installed (in PATH or under /usr/lib/postgresql/*/bin).
func HasServerBinaries() bool {
	_, err := postgresBin()
	return err == nil
}

// StartServer starts a server of its own on a free port with its data in
// dir/data, running initdb first unless an earlier run left a cluster there
// (so a development database survives restarts). AdminURL is set;
// DatabaseURL is left to the caller.
func StartServer(ctx context.Context, dir string) (*Postgres, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	p := &Postgres{dir: dir, bin: bin, port: port}
	if err := p.ownDir(); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		if out, err := p.command(ctx, "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("postgres: initdb: %w\n%s", err, out)
		}
	} else if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
		// A server an earlier run left behind (killed before it could stop it).
		_ = p.Stop(ctx)
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	p.AdminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", port)
	return p, nil
}

// ownDir creates p.dir for the server's user: PostgreSQL refuses to run as
// root, so as root the directory goes to the "postgres" system user.
func (p *Postgres) ownDir() error {
	if os.Geteuid() != 0 {
		return os.MkdirAll(p.dir, 0o700)
	}
	p.runAs = "postgres"
	u, err := user.Lookup(p.runAs)
	if err != nil {
		return fmt.Errorf("postgres: running as root needs the postgres system user: %w", err)
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(p.dir, uid, gid); err != nil {
		return err
	}
	// The data directory's parents must be reachable by that user.
	for d := filepath.Dir(p.dir); d != "/" && d != "."; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(d, st.Mode().Perm()|0o011)
		}
	}
	return nil
}

func postgresBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		return "", fmt.Errorf("postgres: no pg_ctl found (install the PostgreSQL server, e.g. apt-get install postgresql)")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func (p *Postgres) command(ctx context.Context, tool string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, tool)
	if p.runAs != "" {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", p.runAs, "--", path}, args...)...)
	}
	return exec.CommandContext(ctx, path, args...)
}

// Start starts the own server (after Stop).
func (p *Postgres) Start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %s -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=200", p.port, p.dir)
	out, err := p.command(ctx, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-o", opts,
		"-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("postgres: start: %w\n%s\nserver.log:\n%s", err, out, tail(filepath.Join(p.dir, "server.log"), 10))
	}
	return nil
}

// Stop stops the own server (fast shutdown: sessions are cut, as in a crash
// of the connection, but the data stays).
func (p *Postgres) Stop(ctx context.Context) error {
	if p.dir == "" {
		return nil
	}
	out, err := p.command(ctx, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("postgres: stop: %w\n%s", err, out)
	}
	return nil
}

// Own reports whether this is a server of its own.
func (p *Postgres) Own() bool { return p.dir != "" }

// Close drops the database, or stops the own server.
func (p *Postgres) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if p.Own() {
		_ = p.Stop(ctx)
		return
	}
	_ = p.DropDatabase(ctx)
}
