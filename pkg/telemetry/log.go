// Package telemetry builds the three observability handles every service
// passes into its constructors: a *slog.Logger, a trace.TracerProvider and a
// Prometheus registry. Nothing here is global except the OTel propagator,
// which SetupTracing installs once.
package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// LogFormat is how log records are written.
type LogFormat string

// The log formats.
const (
	LogJSON LogFormat = "json" // one JSON object a line (the default)
	LogText LogFormat = "text" // logfmt-like key=value, for reading in a terminal
)

// NewLogger returns a slog logger writing records at level and above to w
// in format (JSON unless LogText). Records logged with a context that
// carries a span get trace_id and span_id attributes.
func NewLogger(w io.Writer, level slog.Level, format LogFormat) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if format == LogText {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(traceHandler{h})
}

// traceHandler adds the active span's ids to every record.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
