package revocation_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
)

const hold = 10 * time.Minute

var t0 = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

// sidAt is a UUIDv7 session id that started at t.
func sidAt(t testing.TB, at time.Time) string {
	t.Helper()
	u := uuid.Must(uuid.NewV7())
	ms := uint64(at.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	return u.String()
}

func rev(uid string, at time.Time, sids ...string) events.Revocation {
	return events.Revocation{ID: uuid.NewString(), Type: events.SessionRevoked, Version: events.Version,
		OccurredAt: at, UID: uid, SessionIDs: sids, Reason: "logout"}
}

func TestSessionEntriesLiveOneTTL(t *testing.T) {
	l := revocation.New(hold)
	a, b := sidAt(t, t0.Add(-time.Hour)), sidAt(t, t0.Add(-time.Hour))
	if l.Revoked("u", a) {
		t.Fatal("empty list denies")
	}
	l.Apply(rev("u", t0, a), t0)
	l.Apply(rev("u", t0, a), t0) // redelivered
	if !l.Revoked("u", a) || l.Revoked("u", b) || l.Len() != 1 {
		t.Fatalf("after revoking a: a %v, b %v, len %d", l.Revoked("u", a), l.Revoked("u", b), l.Len())
	}
	if n := l.Prune(t0.Add(hold - time.Second)); n != 0 || !l.Revoked("u", a) {
		t.Fatal("pruned before the last covered token expired")
	}
	if n := l.Prune(t0.Add(hold)); n != 1 || l.Revoked("u", a) || l.Len() != 0 {
		t.Fatalf("prune at expiry dropped %d", n)
	}
	// A replayed event whose tokens have all expired is not even stored.
	l.Apply(rev("u", t0, a), t0.Add(hold))
	if l.Len() != 0 {
		t.Fatal("stored a revocation that can no longer matter")
	}
}

func TestCutoffCoversSessionsStartedBefore(t *testing.T) {
	l := revocation.New(hold)
	before := t0
	old, fresh := sidAt(t, t0.Add(-time.Minute)), sidAt(t, t0.Add(time.Millisecond))
	r := rev("u", t0)
	r.Before = &before
	l.Apply(r, t0)
	for _, tc := range []struct {
		uid, sid string
		want     bool
	}{
		{"u", old, true},
		{"u", sidAt(t, t0), true}, // the same millisecond: cannot tell, deny
		{"u", fresh, false},       // a login after the cut-off
		{"u", "not-a-v7-id", true},
		{"other", old, false},
	} {
		if got := l.Revoked(tc.uid, tc.sid); got != tc.want {
			t.Fatalf("Revoked(%s, %s) = %v, want %v", tc.uid, tc.sid, got, tc.want)
		}
	}
	// An older cut-off arriving late does not move the newer one back.
	earlier := t0.Add(-time.Hour)
	r2 := rev("u", t0)
	r2.Before = &earlier
	l.Apply(r2, t0)
	if !l.Revoked("u", old) || l.Len() != 1 {
		t.Fatal("a late, older cut-off replaced the newer one")
	}
	if l.Prune(t0.Add(hold)); l.Revoked("u", old) {
		t.Fatal("cut-off held past the last token it covers")
	}
}

func TestStaleness(t *testing.T) {
	l := revocation.New(hold)
	if !l.Stale(t0, 3*time.Second) || !l.LastHeard().IsZero() {
		t.Fatal("a list that never heard from the feed is not stale")
	}
	l.Heard(t0)
	l.Heard(t0.Add(-time.Minute)) // a late report does not move it back
	if l.Stale(t0.Add(3*time.Second), 3*time.Second) || !l.Stale(t0.Add(4*time.Second), 3*time.Second) {
		t.Fatal("staleness boundary")
	}
	if !l.LastHeard().Equal(t0) {
		t.Fatalf("LastHeard %v", l.LastHeard())
	}
}

// Run with -race: writers, pruners and readers at once.
func TestConcurrentUse(t *testing.T) {
	l := revocation.New(hold)
	var wg sync.WaitGroup
	sids := make([]string, 200)
	for i := range sids {
		sids[i] = sidAt(t, t0.Add(-time.Hour))
	}
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(sids); i += 4 {
				l.Apply(rev(fmt.Sprint("u", i), t0, sids[i]), t0)
				l.Heard(t0)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for _, s := range sids {
				l.Revoked("u", s)
				l.Stale(t0, time.Second)
			}
		})
	}
	wg.Go(func() { l.Prune(t0) })
	wg.Wait()
	for _, s := range sids {
		if !l.Revoked("u", s) {
			t.Fatal("a revocation was lost")
		}
	}
	if l.Len() != len(sids) {
		t.Fatalf("len %d, want %d", l.Len(), len(sids))
	}
}
