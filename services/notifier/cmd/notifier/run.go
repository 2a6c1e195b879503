package main

import (
	"context"
	"fmt"
	"io"
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
	cmd := "serve"
	if len(args) > 1 {
		cmd = args[1]
	}
	switch cmd {
	case "serve":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout)
	case "dlq":
		return runDLQ(ctx, args[2:], getenv, stdout)
	case "version", "-version", "--version":
		_, err := fmt.Fprintf(stdout, "notifier %s (commit %s)\n", orDev(version), orDev(commit))
		return err
	case "help", "-h", "-help", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		return fmt.Errorf("unknown command %q; usage: notifier [serve|dlq|version|help]", cmd)
	}
}

func orDev(s string) string {
	if s == "" {
		return "dev"
	}
	return s
}
