package consumer_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kairos-platform/identity/services/notifier/internal/consumer"
)

func TestBackoff(t *testing.T) {
	c := consumer.New(consumer.Config{Name: "email", RetryBase: time.Second, RetryMax: time.Minute}, nil, nil, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)), noop.NewTracerProvider(), propagation.TraceContext{}, nil)
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{6, 32 * time.Second}, {7, time.Minute}, {40, time.Minute}, {1000, time.Minute},
	}
	for _, tt := range tests {
		for range 20 {
			got := c.Backoff(tt.attempt)
			if got < tt.want*8/10 || got > tt.want*12/10 {
				t.Errorf("Backoff(%d) = %s, want %s ±20%%", tt.attempt, got, tt.want)
			}
		}
	}
}
