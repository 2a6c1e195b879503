package telemetry

import (
	"context"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Setup is one service's observability, as its config decided it.
type Setup struct {
	Service, Version, Commit string // the registry's build info
	LogLevel                 slog.Level
	LogFormat                LogFormat
	Tracing                  TraceExporter
	TraceName                string // service name on spans; Service when empty
}

// Build returns the three handles every constructor takes: a logger on
// stdout, a tracer provider (and the W3C propagator installed), and a
// registry with the baseline collectors.
func (s Setup) Build(ctx context.Context, stdout io.Writer) (*slog.Logger, Tracing, *prometheus.Registry, error) {
	name := s.TraceName
	if name == "" {
		name = s.Service
	}
	tracing, err := SetupTracing(ctx, TracingConfig{Exporter: s.Tracing, ServiceName: name, Version: s.Version}, stdout)
	if err != nil {
		return nil, Tracing{}, nil, err
	}
	return NewLogger(stdout, s.LogLevel, s.LogFormat), tracing, NewRegistry(s.Service, s.Version, s.Commit), nil
}
