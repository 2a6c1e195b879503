package httpapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// IPLimiter is a token bucket per client IP, in memory (per replica).
//
// Memory stays bounded: a bucket untouched for longer than it takes to
// refill completely is indistinguishable from a new one, so a periodic sweep
// drops it. The map therefore holds only clients seen within the last
// idle window.
type IPLimiter struct {
	rps   rate.Limit
	burst int
	idle  time.Duration
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewIPLimiter returns a limiter allowing rps requests per second with the
// given burst per IP, or nil (no limit) when rps is 0.
func NewIPLimiter(rps float64, burst int, now func() time.Time) *IPLimiter {
	if rps <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	if burst < 1 {
		burst = 1
	}
	refill := time.Duration(float64(burst) / rps * float64(time.Second))
	return &IPLimiter{
		rps:     rate.Limit(rps),
		burst:   burst,
		idle:    max(refill, time.Minute),
		now:     now,
		buckets: map[string]*bucket{},
	}
}

// Allow takes a token for ip, or says how long until one is available.
func (l *IPLimiter) Allow(ip string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.idle {
		for k, b := range l.buckets {
			if now.Sub(b.seen) >= l.idle {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[ip]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rps, l.burst)}
		l.buckets[ip] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// ClientIP finds the client address of a request: the TCP peer, unless the
// peer is a trusted proxy, in which case the right-most X-Forwarded-For entry
// that is not itself a trusted proxy. Entries left of that one are whatever
// the client wrote and are never believed.
type ClientIP struct {
	Trusted []netip.Prefix
}

func (c ClientIP) trusted(a netip.Addr) bool {
	for _, p := range c.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Of returns the client IP of r as a string.
func (c ClientIP) Of(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !c.trusted(peer) {
		return peer.String()
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// Garbage from here on leftwards: the last trusted hop is the
			// best we know.
			break
		}
		client = a.Unmap()
		if !c.trusted(client) {
			break
		}
	}
	return client.String()
}
