package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kairos-platform/identity/pkg/telemetry"
)

func TestNewLoggerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf, slog.LevelDebug, telemetry.LogJSON)
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	log.InfoContext(ctx, "inside")
	span.End()
	log.Info("outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %q", len(lines), buf.String())
	}
	var in, out map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &in)
	_ = json.Unmarshal([]byte(lines[1]), &out)
	if in["trace_id"] != span.SpanContext().TraceID().String() || in["span_id"] != span.SpanContext().SpanID().String() {
		t.Errorf("line in a span = %v, want its trace and span ids", in)
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("line outside a span carries a trace id: %v", out)
	}
}

func TestNewLoggerLevelAndFormat(t *testing.T) {
	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf, slog.LevelWarn, telemetry.LogText)
	log.Info("hidden")
	log.Warn("shown")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "msg=shown") {
		t.Errorf("warn-level text logger wrote %q", got)
	}
}

func TestSetupTracing(t *testing.T) {
	ctx := context.Background()
	// none: nothing is recorded, so nothing costs.
	tr, err := telemetry.SetupTracing(ctx, telemetry.TracingConfig{Exporter: telemetry.TraceNone}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("t").Start(ctx, "op")
	if span.IsRecording() {
		t.Error("no exporter: spans are recorded")
	}
	span.End()
	// console: spans go to the given writer as JSON, with the service name.
	var out bytes.Buffer
	tr, err = telemetry.SetupTracing(ctx, telemetry.TracingConfig{Exporter: telemetry.TraceConsole, ServiceName: "renamed", Version: "v1"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	_, span = tr.Provider.Tracer("t").Start(ctx, "the-op")
	span.End()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"the-op"`) || !strings.Contains(out.String(), "renamed") {
		t.Errorf("console exporter wrote %q, want the span and the service name", out.String())
	}
}

func TestNewRegistryBaseline(t *testing.T) {
	reg := telemetry.NewRegistry("auth-api", "1.2.3", "abc")
	want := `
# HELP kairos_build_info Always 1; labels carry the running build's version and commit.
# TYPE kairos_build_info gauge
kairos_build_info{commit="abc",service="auth-api",version="1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kairos_build_info"); err != nil {
		t.Error(err)
	}
	n, err := testutil.GatherAndCount(reg, "go_goroutines", "process_start_time_seconds")
	if err != nil || n != 2 {
		t.Errorf("runtime and process collectors: %d series, %v", n, err)
	}
}
