// Package natstest runs a nats-server with JetStream for tests and the dev
// tools, on a random port with its store in a directory of its own:
// in-process (the current release: New, or Listen outside tests) or the
// system binary (the oldest supported: NewSystem). A caller can stop it and
// start it again on the same port and store to simulate an outage.
package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a JetStream server owned by one test or tool.
type Server struct {
	t    testing.TB // nil outside tests: errors are returned, not fatal
	opts server.Options
	mu   sync.Mutex
	srv  *server.Server

	// For NewSystem: an external binary, its store and its process.
	bin, dir string
	cmd      *exec.Cmd
	version  string
}

// New starts an in-process JetStream server and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Listen(t.TempDir())
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	s.t = t
	t.Cleanup(s.Stop)
	return s
}

// Listen starts an in-process JetStream server with its store under dir,
// for tools (devstack, the fault matrix); the caller stops it.
func Listen(dir string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{opts: server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	}}
	if err := s.Start(); err != nil {
		return nil, err
	}
	// Later starts reuse the port the first one got, so clients reconnect.
	s.opts.Port = s.srv.Addr().(*net.TCPAddr).Port
	return s, nil
}

// URL is the client URL, stable across restarts.
func (s *Server) URL() string {
	return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port)
}

// Start starts the server if it is stopped. In a test a failure fails the
// test; elsewhere it is returned.
func (s *Server) Start() error {
	if s.t != nil {
		s.t.Helper()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	switch {
	case s.bin != "":
		if s.cmd == nil {
			err = s.startProcess()
		}
	case s.srv == nil:
		err = s.startInProcess()
	}
	if err != nil && s.t != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	return err
}

func (s *Server) startInProcess() error {
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("new server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("server not ready")
	}
	s.srv = srv
	return nil
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
	_ = s.Start() // in a test a failure is fatal already
}
