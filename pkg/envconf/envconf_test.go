package envconf_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/envconf"
)

func TestReader(t *testing.T) {
	vars := map[string]string{"S": "  x  ", "I": "7", "F": "2.5", "D": "3s", "L": " a, ,b ,"}
	e := envconf.New(func(k string) string { return vars[k] })
	if e.Str("S", "d") != "x" || e.Str("UNSET", "d") != "d" || e.Int("I", 1, 0, 10) != 7 || e.Int("UNSET", 1, 0, 10) != 1 ||
		e.Float("F", 1, 0) != 2.5 || e.Duration("D", time.Second, 0) != 3*time.Second || strings.Join(e.List("L"), "|") != "a|b" {
		t.Fatal("good values misread")
	}
	if e.Err() != nil {
		t.Fatalf("Err = %v after good values", e.Err())
	}
}

func TestHostPort(t *testing.T) {
	tests := []struct {
		value string
		ok    bool
	}{
		{":8080", true}, {"127.0.0.1:0", true}, {"[::1]:9090", true}, {"localhost:80", true},
		{"notaport", false}, {"host:http", false}, {":99999", false}, {"1.2.3.4", false},
	}
	for _, tt := range tests {
		e := envconf.New(func(string) string { return tt.value })
		e.HostPort("ADDR", ":1")
		if (e.Err() == nil) != tt.ok {
			t.Errorf("HostPort(%q): err = %v, want ok=%v", tt.value, e.Err(), tt.ok)
		}
	}
}

func TestObservability(t *testing.T) {
	tests := []struct {
		env                    map[string]string
		level, format, tracing string
		wantErr                string
	}{
		{nil, "INFO", "json", "none", ""},
		{map[string]string{"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "Text"}, "DEBUG", "text", "none", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "INFO", "json", "otlp", ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "INFO", "json", "console", ""},
		{map[string]string{"LOG_LEVEL": "loud"}, "", "", "", `LOG_LEVEL: "loud" is not one of debug, info, warn, error`},
		{map[string]string{"LOG_FORMAT": "xml"}, "", "", "", `LOG_FORMAT: "xml" is not one of json, text`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "", "", "", `OTEL_TRACES_EXPORTER: "zipkin" is not one of otlp, console, none`},
	}
	for _, tt := range tests {
		e := envconf.New(func(k string) string { return tt.env[k] })
		o := e.Observability("svc")
		if tt.wantErr != "" {
			if e.Err() == nil || e.Err().Error() != tt.wantErr {
				t.Errorf("%v: err = %v, want %s", tt.env, e.Err(), tt.wantErr)
			}
			continue
		}
		if e.Err() != nil || o.LogLevel.String() != tt.level || o.LogFormat != tt.format || o.TraceExporter != tt.tracing || o.ServiceName != "svc" {
			t.Errorf("%v: %+v, %v", tt.env, o, e.Err())
		}
	}
}

func TestFirstFailureNamesTheVariable(t *testing.T) {
	tests := []struct {
		name string
		read func(*envconf.Env)
		want string
	}{
		{"int out of range", func(e *envconf.Env) { e.Int("V", 1, 0, 5) }, `V: "bad" is not a whole number from 0 to 5`},
		{"float", func(e *envconf.Env) { e.Float("V", 1, 0) }, `V: "bad" is not a number of at least 0`},
		{"duration", func(e *envconf.Env) { e.Duration("V", 0, time.Second) }, `V: "bad" is not a duration of at least 1s (e.g. 1s, 2s)`},
		{"duration with a readable bound", func(e *envconf.Env) { e.Duration("V", 24*time.Hour, time.Minute) }, `V: "bad" is not a duration of at least 1m (e.g. 24h, 48h)`},
		{"one of", func(e *envconf.Env) { e.OneOf("V", "a", "a", "b") }, `V: "bad" is not one of a, b`},
		{"host:port", func(e *envconf.Env) { e.HostPort("V", ":80") }, `V: "bad" is not host:port (e.g. :8080 or 127.0.0.1:8080)`},
		{"custom, then a second failure", func(e *envconf.Env) { e.Fail("V", "%q is odd", "bad"); e.Int("V", 1, 0, 5) }, `V: "bad" is odd`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := envconf.New(func(string) string { return "bad" })
			tt.read(e)
			if e.Err() == nil || e.Err().Error() != tt.want {
				t.Fatalf("Err = %v, want %s", e.Err(), tt.want)
			}
		})
	}
}
