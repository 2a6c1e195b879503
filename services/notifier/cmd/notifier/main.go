// Command notifier consumes the USERS stream: it sends the verification and
// duplicate-signup emails over SMTP and creates each new user in the Agent.
// Subcommands: serve (the default), dlq list, dlq replay [--all | ID…].
package main

import "github.com/kairos-platform/identity/pkg/lifecycle"

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var version, commit string

func main() { lifecycle.Main("notifier", run) }
