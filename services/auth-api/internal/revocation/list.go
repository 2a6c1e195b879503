// Package revocation is each replica's in-memory deny-list of revoked
// sessions, fed by session.revoked events, consulted on every access-token
// check so that a logout is honoured without a database round trip.
//
// Reads are lock-free (sync.Map, which suits a set written rarely and read on
// every request); writes are serialised by a mutex so a user's cut-off only
// ever moves forward. An entry is held until the last access token it can
// cover has expired, then pruned: the list's size is bounded by the
// revocations of one ACCESS_TOKEN_TTL, not by history.
package revocation

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
)

// List is the deny-list. The zero value is not usable; call New.
type List struct {
	hold time.Duration

	mu       sync.Mutex // serialises writers; readers never take it
	sessions sync.Map   // session id → time.Time the entry may be dropped
	cutoffs  sync.Map   // uid → cutoff
	size     atomic.Int64

	heard atomic.Int64 // unix nanoseconds the feed was last known to be current
}

// cutoff revokes every session of a user that started at or before before.
type cutoff struct {
	before time.Time
	until  time.Time
}

// New returns an empty list whose entries are held for hold after the
// revocation: ACCESS_TOKEN_TTL plus the verifier's leeway plus the longest
// gap between a refresh's commit and the signing of its access token.
func New(hold time.Duration) *List { return &List{hold: hold} }

// Apply adds a revocation. Entries it carries that can no longer matter at
// now (a replay of old events at start-up) are skipped. Applying the same
// event twice is harmless: delivery is at-least-once.
func (l *List) Apply(r events.Revocation, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	until := r.OccurredAt.Add(l.hold)
	if !until.After(now) {
		return
	}
	for _, sid := range r.SessionIDs {
		prev, loaded := l.sessions.Load(sid)
		if !loaded {
			l.size.Add(1)
		}
		if !loaded || until.After(prev.(time.Time)) {
			l.sessions.Store(sid, until)
		}
	}
	if r.Before != nil {
		c := cutoff{before: *r.Before, until: r.Before.Add(l.hold)}
		prev, loaded := l.cutoffs.Load(r.UID)
		if !loaded {
			l.size.Add(1)
		} else if p := prev.(cutoff); p.before.After(c.before) {
			c.before = p.before
			c.until = p.until
		}
		l.cutoffs.Store(r.UID, c)
	}
}

// Revoked reports whether an access token of session sid of user uid is
// denied. It is the hot path: one atomic load when the list is empty, one or
// two map lookups otherwise.
func (l *List) Revoked(uid, sid string) bool {
	if l.size.Load() == 0 {
		return false
	}
	if _, ok := l.sessions.Load(sid); ok {
		return true
	}
	v, ok := l.cutoffs.Load(uid)
	if !ok {
		return false
	}
	started, ok := session.StartedAt(sid)
	// A session id whose start cannot be read cannot be shown to postdate
	// the cut-off.
	return !ok || !started.After(v.(cutoff).before)
}

// Prune drops entries whose tokens have all expired at now and returns how
// many it dropped. Run it periodically; correctness does not depend on it.
func (l *List) Prune(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	l.sessions.Range(func(k, v any) bool {
		if !v.(time.Time).After(now) {
			l.sessions.Delete(k)
			n++
		}
		return true
	})
	l.cutoffs.Range(func(k, v any) bool {
		if !v.(cutoff).until.After(now) {
			l.cutoffs.Delete(k)
			n++
		}
		return true
	})
	l.size.Add(int64(-n))
	return n
}

// Len is the number of entries (for the deny-list size gauge).
func (l *List) Len() int { return int(l.size.Load()) }

// Heard records that the feed was current at t: an event arrived, or the
// consumer confirmed it had nothing pending (a heartbeat).
func (l *List) Heard(t time.Time) {
	n := t.UnixNano()
	for {
		old := l.heard.Load()
		if old >= n || l.heard.CompareAndSwap(old, n) {
			return
		}
	}
}

// LastHeard is when the feed was last known current; zero if never.
func (l *List) LastHeard() time.Time {
	n := l.heard.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Stale reports whether the list cannot vouch for a token at now: the feed
// was never current, or not for longer than maxLag. A stale replica must ask
// PostgreSQL (or refuse) instead of trusting the list.
func (l *List) Stale(now time.Time, maxLag time.Duration) bool {
	n := l.heard.Load()
	return n == 0 || now.Sub(time.Unix(0, n)) > maxLag
}
