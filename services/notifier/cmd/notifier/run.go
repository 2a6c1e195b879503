package main

import (
	"context"
	"io"

	"github.com/kairos-platform/identity/pkg/lifecycle"
)

const usage = `usage: notifier [command]

Commands:
  serve                      consume the USERS stream: send emails, sync users to the Agent (the default)
  dlq list                   print the dead letters
  dlq replay (--all | ID...) put dead letters back on the stream
  version                    print the version and commit
  help                       print this help

Settings are environment variables; the README's "Configuration" table lists
each one with its default.
`

// run is the whole program; main only supplies the process's context,
// arguments, environment and stdout, so tests can run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return lifecycle.Program{Name: "notifier", Usage: usage, Version: version, Commit: commit,
		Commands: map[string]func(context.Context, []string) error{
			"serve": lifecycle.Serve(loadConfig, serve, getenv, stdout),
			"dlq":   func(ctx context.Context, args []string) error { return runDLQ(ctx, args, getenv, stdout) },
		}}.Run(ctx, args, stdout)
}
