package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
)

func TestRevocationRoundTrip(t *testing.T) {
	before := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	for name, r := range map[string]events.Revocation{
		"sessions": {ID: "e1", Type: events.SessionRevoked, Version: events.Version, OccurredAt: before, UID: "u", SessionIDs: []string{"s1", "s2"}, Reason: "logout"},
		"cut-off":  {ID: "e2", Type: events.SessionRevoked, Version: events.Version, OccurredAt: before, UID: "u", Before: &before, Reason: "password_changed"},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := events.EncodeRevocation(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.DecodeRevocation(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != r.ID || got.UID != r.UID || len(got.SessionIDs) != len(r.SessionIDs) || (got.Before == nil) != (r.Before == nil) {
				t.Fatalf("round trip: %+v, want %+v", got, r)
			}
		})
	}
}

func TestDecodeRevocationRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want error
	}{
		"not JSON":      {`{`, events.ErrMalformed},
		"no target":     {`{"id":"e","type":"session.revoked","version":1,"uid":"u"}`, events.ErrMalformed},
		"no uid":        {`{"id":"e","type":"session.revoked","version":1,"session_ids":["s"]}`, events.ErrMalformed},
		"no id":         {`{"type":"session.revoked","version":1,"uid":"u","session_ids":["s"]}`, events.ErrMalformed},
		"other type":    {`{"id":"e","type":"user.created","version":1,"uid":"u","session_ids":["s"]}`, events.ErrUnknownType},
		"other version": {`{"id":"e","type":"session.revoked","version":2,"uid":"u","session_ids":["s"]}`, events.ErrUnknownVersion},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := events.DecodeRevocation([]byte(tc.in)); !errors.Is(err, tc.want) {
				t.Fatalf("DecodeRevocation = %v, want %v", err, tc.want)
			}
		})
	}
}
