package envconf

import "log/slog"

// Observability is the logging and tracing settings every service shares.
type Observability struct {
	LogLevel      slog.Level
	LogFormat     string // json or text
	TraceExporter string // none, console or otlp
	ServiceName   string
}

// Observability reads LOG_LEVEL, LOG_FORMAT and the OTEL_* variables that
// decide whether traces are exported; the OTLP exporter reads the rest of
// its standard variables itself. service is the default service name.
func (e *Env) Observability(service string) Observability {
	o := Observability{
		LogFormat:   e.OneOf("LOG_FORMAT", "json", "json", "text"),
		ServiceName: e.Str("OTEL_SERVICE_NAME", service),
	}
	// slog also accepts "info+2" and the like; the README names four.
	_ = o.LogLevel.UnmarshalText([]byte(e.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")))
	// Unset and no endpoint: nothing is exported, so nothing costs.
	def := "none"
	if e.Str("OTEL_EXPORTER_OTLP_ENDPOINT", "") != "" || e.Str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "") != "" {
		def = "otlp"
	}
	o.TraceExporter = e.OneOf("OTEL_TRACES_EXPORTER", def, "otlp", "console", "none")
	return o
}
