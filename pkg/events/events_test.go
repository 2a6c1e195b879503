package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
)

func valid() events.Event {
	exp := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	return events.Event{
		ID: "e1", Type: events.UserCreated, Version: events.Version, OccurredAt: exp.Add(-24 * time.Hour),
		User:      events.User{UID: "u1", Username: "john", Email: "john@example.com"},
		VerifyURL: "http://localhost:8080/api/verify/t/", VerifyExpiresAt: &exp,
	}
}

func TestRoundTrip(t *testing.T) {
	b, err := events.Encode(valid())
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "e1" || got.User.Email != "john@example.com" || !got.VerifyExpiresAt.Equal(*valid().VerifyExpiresAt) {
		t.Fatalf("round trip = %+v", got)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"not json", `{`, events.ErrMalformed},
		{"wrong version", `{"id":"e","type":"user.created","version":2,"user":{"uid":"u","email":"e"},"verify_url":"x"}`, events.ErrUnknownVersion},
		{"unknown type", `{"id":"e","type":"user.renamed","version":1,"user":{"uid":"u","email":"e"}}`, events.ErrUnknownType},
		{"missing id", `{"type":"user.created","version":1,"user":{"uid":"u","email":"e"},"verify_url":"x"}`, events.ErrMalformed},
		{"missing uid", `{"id":"e","type":"user.created","version":1,"user":{"email":"e"},"verify_url":"x"}`, events.ErrMalformed},
		{"reset without link", `{"id":"e","type":"user.password_reset_requested","version":1,"user":{"uid":"u","email":"e"}}`, events.ErrMalformed},
		{"email change without address", `{"id":"e","type":"user.email_change_requested","version":1,"user":{"uid":"u","email":"e"},"confirm_url":"x"}`, events.ErrMalformed},
		{"created without link", `{"id":"e","type":"user.created","version":1,"user":{"uid":"u","email":"e"}}`, events.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := events.Decode([]byte(tt.in)); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	dup := `{"id":"e","type":"user.signup_duplicate","version":1,"user":{"uid":"u","email":"e"},"extra":true}`
	if _, err := events.Decode([]byte(dup)); err != nil {
		t.Fatalf("duplicate-signup event without link and with an unknown field: %v", err)
	}
	attack := `{"id":"e","type":"user.login_attack_suspected","version":1,"user":{"uid":"u","email":"e"}}`
	if _, err := events.Decode([]byte(attack)); err != nil {
		t.Fatalf("login-attack notice without link: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := events.Encode(valid())
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := events.Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must encode again and decode to the same event.
		again, err := events.Encode(e)
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		if _, err := events.Decode(again); err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
	})
}
