package lifecycle

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// Program is a service's command line: a default command (serve), its other
// subcommands, and the version and help every service answers the same way.
type Program struct {
	Name    string // the binary's name, in messages and `version`
	Usage   string // printed by help, -h, --help
	Version string // from -ldflags; empty means a development build
	Commit  string
	// Commands maps a subcommand to its function, which gets the arguments
	// after it. "serve" is the one run without arguments.
	Commands map[string]func(ctx context.Context, args []string) error
}

// Run dispatches args (os.Args-shaped: args[0] is the program).
func (p Program) Run(ctx context.Context, args []string, stdout io.Writer) error {
	cmd, rest := "serve", []string(nil)
	if len(args) > 1 {
		cmd, rest = args[1], args[2:]
	}
	switch cmd {
	case "version", "-version", "--version":
		_, err := fmt.Fprintf(stdout, "%s %s (commit %s)\n", p.Name, OrDev(p.Version), OrDev(p.Commit))
		return err
	case "help", "-h", "-help", "--help":
		_, err := io.WriteString(stdout, p.Usage)
		return err
	}
	if f, ok := p.Commands[cmd]; ok {
		return f(ctx, rest)
	}
	names := make([]string, 0, len(p.Commands)+2)
	for n := range p.Commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return fmt.Errorf("unknown command %q; usage: %s [%s|version|help]", cmd, p.Name, strings.Join(names, "|"))
}

// Main is a service's whole main: run under a context cancelled by SIGINT or
// SIGTERM, and exit 1 with the error on one line.
func Main(name string, run func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// OrDev names a build without -ldflags values.
func OrDev(s string) string {
	if s == "" {
		return "dev"
	}
	return s
}

// Serve is a service's "serve" command: load the configuration from getenv
// (one line naming the variable on error), then serve with it.
func Serve[C any](load func(getenv func(string) string) (C, error), serve func(context.Context, C, io.Writer) error,
	getenv func(string) string, stdout io.Writer) func(context.Context, []string) error {
	return func(ctx context.Context, _ []string) error {
		cfg, err := load(getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout)
	}
}
