package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/envconf"
	"github.com/kairos-platform/identity/pkg/lifecycle"
	"github.com/kairos-platform/identity/pkg/telemetry"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

const usage = `usage: auth-api [command]

Commands:
  serve     serve the API, the admin port and the outbox relay (the default)
  migrate   apply the database migrations and exit
  keys generate [--type es256|ed25519]
            print a new private signing key (PKCS#8 PEM) for JWT_SIGNING_KEYS_FILE
  admin users list|show|verify|resend-verification|disable|enable|unlock|sign-out|delete …
  admin audit [--uid UID] [--action A] [--since 24h]
            operators' actions on DATABASE_URL, audited (--actor NAME, --json)
  version   print the version and commit
  help      print this help

Settings are environment variables; the README's "Configuration" table lists
each one with its default (DATABASE_URL and JWT_SIGNING_KEYS_FILE are required).
`

// run is the whole program: main only adds the signal context and the exit
// code. Tests call it with a fake getenv and port 0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return lifecycle.Program{Name: "auth-api", Usage: usage, Version: version, Commit: commit,
		Commands: map[string]func(context.Context, []string) error{
			"serve":   lifecycle.Serve(loadConfig, serve, getenv, stdout),
			"migrate": func(ctx context.Context, _ []string) error { return migrate(ctx, getenv, stdout) },
			"keys":    func(_ context.Context, args []string) error { return keys(args, stdout) },
			"admin":   func(ctx context.Context, args []string) error { return adminCommand(ctx, args, getenv, stdout) },
		}}.Run(ctx, args, stdout)
}

// migrate applies the embedded migrations under goose's advisory lock, so
// several concurrent runs (pods, a Job) are safe, and exits.
func migrate(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	e := envconf.New(getenv)
	dbURL := databaseURL(e)
	obs := e.Observability("auth-api")
	if err := e.Err(); err != nil {
		return err
	}
	logger := telemetry.NewLogger(stdout, obs.LogLevel, telemetry.LogFormat(obs.LogFormat))
	if err := migrations.UpURL(ctx, dbURL); err != nil {
		return fmt.Errorf("migrate %s: %w", redactURL(dbURL), err)
	}
	logger.InfoContext(ctx, "migrations applied", "database", redactURL(dbURL))
	return nil
}

// keys handles `auth-api keys generate [--type es256|ed25519]`.
func keys(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "generate" {
		return errors.New("usage: auth-api keys generate [--type es256|ed25519]")
	}
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kind := fs.String("type", tokens.TypeES256, "es256 or ed25519")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return errors.New("usage: auth-api keys generate [--type es256|ed25519]")
	}
	pem, err := tokens.Generate(*kind)
	if err != nil {
		return err
	}
	_, err = stdout.Write(pem)
	return err
}
