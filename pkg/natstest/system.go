package natstest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// SystemBinary is where Debian's nats-server package installs the server;
// it is 2.9.10 on the machines we build on, the oldest version the services
// support, so tests run against it as well as against the in-process
// (current) server.
const SystemBinary = "/usr/sbin/nats-server"

// NewSystem starts the nats-server binary at SystemBinary with JetStream on
// a free port and a store in a temporary directory, and stops it when the
// test ends. A missing binary fails the test with how to install it.
func NewSystem(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(SystemBinary); err != nil {
		t.Fatalf("natstest: %s is missing (%v); install it with `apt-get install nats-server`", SystemBinary, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := &Server{t: t, bin: SystemBinary, dir: t.TempDir()}
	s.opts.Port = port
	_ = s.Start() // fatal on failure
	t.Cleanup(s.Stop)
	return s
}

// Version is the server's version as it reports it ("2.9.10").
func (s *Server) Version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bin == "" {
		return server.VERSION
	}
	return s.version
}

// startProcess runs the binary and waits for its "ready" line. Caller holds mu.
func (s *Server) startProcess() error {
	cmd := exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.opts.Port), "-js", "-sd", s.dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var log strings.Builder
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "Version:"); i >= 0 {
				s.version = strings.TrimSpace(line[i+len("Version:"):])
			}
			if strings.Contains(line, "Server is ready") {
				ready <- ""
				_, _ = io.Copy(io.Discard, stderr)
				return
			}
			log.WriteString(line + "\n")
		}
		ready <- log.String()
	}()
	select {
	case out := <-ready:
		if out != "" {
			_ = cmd.Wait()
			return fmt.Errorf("%s exited before it was ready:\n%s", s.bin, out)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("%s not ready within 30s", s.bin)
	}
	s.cmd = cmd
	return nil
}

// stopProcess stops the binary the way an operator would (SIGTERM, which
// lets JetStream flush its store). Caller holds mu.
func (s *Server) stopProcess() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		fmt.Fprintf(os.Stderr, "natstest: %s ignored SIGTERM; killed\n", s.bin)
	}
	s.cmd = nil
}
