package events

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream settings. The stream is created or updated idempotently by whichever
// service starts first, so both must agree on this one definition.
const (
	StreamName     = "USERS"
	StreamSubjects = "user.>"

	// DuplicateWindow bounds how long JetStream remembers a Nats-Msg-Id. The
	// relay publishes each outbox row until it is acknowledged, so a double
	// publish can only happen within seconds of the first; an hour is ample.
	DuplicateWindow = time.Hour

	// MaxAge keeps events long enough to survive a long notifier outage.
	MaxAge = 7 * 24 * time.Hour
)

// Trace-context header names carried on messages. NATS headers are
// case-sensitive, so these must stay in lower case (W3C names).
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// StreamConfig is the USERS stream definition for the given replica count.
func StreamConfig(replicas int) jetstream.StreamConfig {
	if replicas < 1 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Kairos identity events (see pkg/events)",
		Subjects:    []string{StreamSubjects},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      MaxAge,
		Duplicates:  DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	}
}

// EnsureStream creates the USERS stream or updates it to StreamConfig.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, StreamConfig(replicas))
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", StreamName, err)
	}
	return s, nil
}
