package stack

import (
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS is an in-process JetStream server that can be stopped and started again
// on the same port and store, to inject an outage the services only see
// through the network.
type NATS struct {
	opts server.Options
	mu   sync.Mutex
	srv  *server.Server
}

// StartNATS starts JetStream with its store under dir.
func StartNATS(dir string) (*NATS, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	n := &NATS{opts: server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	}}
	if err := n.Start(); err != nil {
		return nil, err
	}
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port
	return n, nil
}

// URL is the client URL, stable across restarts.
func (n *NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// Start starts the server if it is stopped.
func (n *NATS) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return nil
	}
	opts := n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("nats: not ready")
	}
	n.srv = srv
	return nil
}

// Stop shuts the server down, keeping its store.
func (n *NATS) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}
