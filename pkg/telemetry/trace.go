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

// Tracing is the tracer provider of a service and the function that flushes
// it on shutdown.
type Tracing struct {
	Provider trace.TracerProvider
	Shutdown func(context.Context) error
}

// SetupTracing builds a tracer provider from the standard OTEL_* variables,
// read through getenv:
//
//   - OTEL_TRACES_EXPORTER unset and OTEL_EXPORTER_OTLP_ENDPOINT unset, or
//     "none": a no-op provider (no exporter, no cost);
//   - "console": spans as JSON lines on stdout;
//   - otherwise the exporter autoexport selects (otlp by default), which
//     reads the remaining OTEL_EXPORTER_OTLP_* variables itself.
//
// The sampler honours OTEL_TRACES_SAMPLER/OTEL_TRACES_SAMPLER_ARG (the SDK
// reads them); OTEL_SERVICE_NAME overrides service. It also installs the W3C
// trace-context propagator, the one global the services set.
func SetupTracing(ctx context.Context, getenv func(string) string, stdout io.Writer, service, version string) (Tracing, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	kind := getenv("OTEL_TRACES_EXPORTER")
	if kind == "none" || (kind == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "") {
		return Tracing{Provider: noop.NewTracerProvider(), Shutdown: func(context.Context) error { return nil }}, nil
	}

	var exp sdktrace.SpanExporter
	var err error
	switch kind {
	case "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
	case "", "otlp":
		exp, err = autoexport.NewSpanExporter(ctx)
	default:
		return Tracing{}, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not one of otlp, console, none", kind)
	}
	if err != nil {
		return Tracing{}, fmt.Errorf("OTEL_TRACES_EXPORTER: %w", err)
	}
	if name := getenv("OTEL_SERVICE_NAME"); name != "" {
		service = name
	}
	// OTEL_RESOURCE_ATTRIBUTES adds to (and may override) the defaults.
	res, err := resource.Merge(
		resource.NewSchemaless(semconv.ServiceName(service), semconv.ServiceVersion(version)),
		resource.Environment())
	if err != nil {
		return Tracing{}, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := NewTracerProvider(exp, res)
	return Tracing{Provider: tp, Shutdown: tp.Shutdown}, nil
}

// NewTracerProvider wraps an exporter in a batching SDK provider. Tests use
// it with an in-memory exporter.
func NewTracerProvider(exp sdktrace.SpanExporter, res *resource.Resource) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
}
