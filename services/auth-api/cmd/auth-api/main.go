// Command auth-api serves Kairos's public identity API (signup, email
// verification, login) and relays its outbox to NATS JetStream.
//
//	auth-api           serve (refuses to start while migrations are pending)
//	auth-api migrate   apply the embedded migrations and exit
//	auth-api version   print the build's version and commit
//	auth-api help      print the usage
package main

import "github.com/kairos-platform/identity/pkg/lifecycle"

// Set at build time: -ldflags "-X main.version=… -X main.commit=…".
var version, commit string

func main() { lifecycle.Main("auth-api", run) }
