package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/pkg/pgtest"
)

// localServer is where devstack looks for PostgreSQL without DATABASE_URL.
const (
	localServer   = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	localDatabase = "kairos"
)

// ensureDatabase returns the URL of the services' database: DATABASE_URL as
// given, or database kairos on the local server, created when missing.
func ensureDatabase(ctx context.Context, databaseURL string) (string, error) {
	if databaseURL != "" {
		conn, err := connect(ctx, databaseURL)
		if err != nil {
			return "", fmt.Errorf("DATABASE_URL (%s) does not answer: %w", pgtest.Redact(databaseURL), err)
		}
		conn.Close(context.Background())
		return databaseURL, nil
	}
	conn, err := connect(ctx, localServer)
	if err != nil {
		return "", fmt.Errorf(`no PostgreSQL answers at 127.0.0.1:5432 as user postgres (%w).
Either start a local server that lets user postgres in without a password from 127.0.0.1:
  Debian/Ubuntu: sudo apt-get install postgresql && sudo pg_ctlcluster <version> main start
                 (then trust local TCP logins in pg_hba.conf, or set a password and use DATABASE_URL)
  macOS:         brew install postgresql@16 && brew services start postgresql@16
  Docker:        docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16
or point devstack at any PostgreSQL (13 or newer) you have:
  DATABASE_URL='postgres://user:password@host:5432/kairos?sslmode=disable' make dev`, err)
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
	return pgtest.WithDatabase(localServer, localDatabase), nil
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
