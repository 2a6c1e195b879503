package hashing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/hashing"
)

// A caller turned away for want of a slot has a failed wait span and no
// hash span: the trace shows why the request was answered 503.
func TestTimedOutWaitIsAFailedSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h, err := hashing.New(cheap, hashing.Options{Concurrency: 1, QueueTimeout: time.Millisecond, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	release, err := h.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	if _, err := h.Hash(context.Background(), "pw"); !errors.Is(err, auth.ErrOverloaded) {
		t.Fatalf("Hash with every slot held = %v, want ErrOverloaded", err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "password hash wait" || spans[0].Status.Code != codes.Error {
		t.Fatalf("spans %+v, want one failed %q", spans, "password hash wait")
	}
}
