// Command auth-api serves Kairos's public identity API (signup, email
// verification, login) and relays its outbox to NATS JetStream.
//
//	auth-api           serve (refuses to start while migrations are pending)
//	auth-api migrate   apply the embedded migrations and exit
//	auth-api version   print the build's version and commit
//	auth-api help      print the usage
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Set at build time: -ldflags "-X main.version=… -X main.commit=…".
var version, commit string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "auth-api:", err)
		os.Exit(1)
	}
}
