package natsx

import (
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/pkg/telemetry"
)

// Open is what a service does with NATS at start: Connect (never blocking on
// the server), a JetStream handle, and the connection's state exported to
// reg. A malformed URL is reported with its credentials removed.
func Open(url string, o Options, reg prometheus.Registerer) (*Conn, jetstream.JetStream, error) {
	nc, err := Connect(url, o)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", Redact(url), err)
	}
	js, err := jetstream.New(nc.Conn)
	if err == nil {
		err = telemetry.RegisterNATS(reg, nc.Conn)
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}
