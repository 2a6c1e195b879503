package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/pkg/pgtest"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// localServer is where devstack looks for PostgreSQL without DATABASE_URL.
const (
	localServer   = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	localDatabase = "kairos"
)

// ensureDatabase returns the URL of the services' database: DATABASE_URL as
// given, or database kairos on the server at serverURL, created when
// missing. When nothing listens there but PostgreSQL's programs are
// installed, it starts a private server with its data in privateDir (kept
// between runs) and returns it too, for the caller to stop.
func ensureDatabase(ctx context.Context, databaseURL, serverURL, privateDir string, out *console) (string, *stack.Postgres, error) {
	if databaseURL != "" {
		conn, err := connect(ctx, databaseURL)
		if err != nil {
			return "", nil, fmt.Errorf("DATABASE_URL (%s) does not answer: %w", pgtest.Redact(databaseURL), err)
		}
		conn.Close(context.Background())
		return databaseURL, nil, nil
	}
	conn, err := connect(ctx, serverURL)
	if err == nil {
		conn.Close(context.Background())
		u, err := createIfMissing(ctx, serverURL)
		return u, nil, err
	}
	if !nothingListens(serverURL) || !stack.HasServerBinaries() {
		return "", nil, fmt.Errorf(`no PostgreSQL answers at %s as user postgres (%w).
Either start a local server that lets user postgres in without a password from 127.0.0.1:
  Debian/Ubuntu: sudo apt-get install postgresql && sudo pg_ctlcluster <version> main start
                 (then trust local TCP logins in pg_hba.conf, or set a password and use DATABASE_URL)
  macOS:         brew install postgresql@16 && brew services start postgresql@16
  Docker:        docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16
or point devstack at any PostgreSQL (13 or newer) you have:
  DATABASE_URL='postgres://user:password@host:5432/kairos?sslmode=disable' make dev`, hostPort(serverURL), err)
	}
	out.line("devstack", fmt.Sprintf("nothing answers at %s, but PostgreSQL is installed: starting a private server with its data in %s (kept between runs; delete the folder to start afresh)", hostPort(serverURL), privateDir))
	pg, err := stack.StartServer(ctx, privateDir)
	if err != nil {
		return "", nil, err
	}
	u, err := createIfMissing(ctx, pg.AdminURL)
	if err != nil {
		pg.Close()
		return "", nil, err
	}
	pg.DatabaseURL = u
	return u, pg, nil
}

// createIfMissing creates database kairos on the server at serverURL unless
// it exists, and returns its URL.
func createIfMissing(ctx context.Context, serverURL string) (string, error) {
	conn, err := connect(ctx, serverURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", localDatabase).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for database %s: %w", localDatabase, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+localDatabase); err != nil {
			return "", fmt.Errorf("create database %s: %w", localDatabase, err)
		}
	}
	return pgtest.WithDatabase(serverURL, localDatabase), nil
}

// nothingListens reports whether a TCP connection to the URL's address is
// refused: no server at all, as opposed to one that turns us away.
func nothingListens(u string) bool {
	c, err := net.DialTimeout("tcp", hostPort(u), 2*time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func hostPort(u string) string {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" {
		return "127.0.0.1:5432"
	}
	if parsed.Port() == "" {
		return net.JoinHostPort(parsed.Hostname(), "5432")
	}
	return parsed.Host
}

func connect(ctx context.Context, u string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}
