// Package natstest runs a nats-server with JetStream for tests, on a random
// port with its store in a temporary directory: in-process (the current
// release, New) or the system binary (the oldest supported, NewSystem). A test can stop
// it and start it again on the same port and store to simulate an outage.
package natstest

import (
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an in-process JetStream server owned by one test.
type Server struct {
	t    testing.TB
	opts server.Options
	mu   sync.Mutex
	srv  *server.Server

	// For NewSystem: an external binary, its store and its process.
	bin, dir string
	cmd      *exec.Cmd
	version  string
}

// New starts a JetStream server and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, opts: server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}}
	s.Start()
	// Later starts reuse the port the first one got, so clients reconnect.
	s.opts.Port = s.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Stop)
	return s
}

// URL is the client URL, stable across restarts.
func (s *Server) URL() string {
	return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port)
}

// Start starts the server if it is stopped.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bin != "" {
		if s.cmd == nil {
			s.startProcess()
		}
		return
	}
	if s.srv != nil {
		return
	}
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		s.t.Fatalf("natstest: new server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatalf("natstest: server not ready")
	}
	s.srv = srv
}

// Stop shuts the server down, keeping its store for a later Start.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.stopProcess()
		return
	}
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart stops and starts the server.
func (s *Server) Restart() {
	s.Stop()
	s.Start()
}
