package telemetry

import (
	"context"
	"fmt"
	"io"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TraceExporter is where spans go.
type TraceExporter string

// The trace exporters.
const (
	TraceNone    TraceExporter = "none"    // a no-op provider: nothing recorded, nothing costs
	TraceConsole TraceExporter = "console" // JSON lines on the given writer
	TraceOTLP    TraceExporter = "otlp"    // the OTLP exporter, configured by the SDK's own variables
)

// TracingConfig is what a service's config decided about tracing.
type TracingConfig struct {
	Exporter    TraceExporter
	ServiceName string
	Version     string
}

// Tracing is the tracer provider of a service and the function that flushes
// it on shutdown.
type Tracing struct {
	Provider trace.TracerProvider
	Shutdown func(context.Context) error
}

// SetupTracing builds a tracer provider for cfg and installs the W3C
// trace-context propagator, the one global the services set. The OTLP
// exporter's endpoint and headers, the sampler and extra resource
// attributes are the SDK's own business (it reads its standard variables).
func SetupTracing(ctx context.Context, cfg TracingConfig, stdout io.Writer) (Tracing, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	var exp sdktrace.SpanExporter
	var err error
	switch cfg.Exporter {
	case TraceConsole:
		exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
	case TraceOTLP:
		exp, err = autoexport.NewSpanExporter(ctx)
	default:
		return Tracing{Provider: noop.NewTracerProvider(), Shutdown: func(context.Context) error { return nil }}, nil
	}
	if err != nil {
		return Tracing{}, fmt.Errorf("trace exporter %s: %w", cfg.Exporter, err)
	}
	res, err := resource.Merge(
		resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName), semconv.ServiceVersion(cfg.Version)),
		resource.Environment())
	if err != nil {
		return Tracing{}, fmt.Errorf("trace resource attributes: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return Tracing{Provider: tp, Shutdown: tp.Shutdown}, nil
}
