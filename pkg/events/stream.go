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

	// MaxAge is the default of EVENT_RETENTION: events are kept long enough
	// to survive a long notifier outage, and no longer, since they carry
	// email addresses (personal data) even after an account is deleted.
	MaxAge = 7 * 24 * time.Hour
)

// Trace-context header names carried on messages. NATS headers are
// case-sensitive, so these must stay in lower case (W3C names).
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// StreamConfig is the USERS stream definition for the given replica count
// and maximum age (MaxAge when zero).
func StreamConfig(replicas int, maxAge time.Duration) jetstream.StreamConfig {
	if maxAge <= 0 {
		maxAge = MaxAge
	}
	return streamConfig(StreamName, "Kairos identity events (see pkg/events)", StreamSubjects, replicas, maxAge)
}

// streamConfig is what the USERS and SESSIONS streams share: file storage,
// limits retention by age, the publish dedup window, old messages dropped.
func streamConfig(name, description, subjects string, replicas int, maxAge time.Duration) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: description,
		Subjects:    []string{subjects},
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      maxAge,
		Duplicates:  DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	}
}

// ensure creates a stream or updates it to cfg.
func ensure(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// EnsureStream creates the USERS stream or updates it to StreamConfig.
// Both services must be given the same maxAge (EVENT_RETENTION), or each
// start undoes the other's.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int, maxAge time.Duration) (jetstream.Stream, error) {
	return ensure(ctx, js, StreamConfig(replicas, maxAge))
}
