package httpapi

import "github.com/kairos-platform/identity/services/auth-api/internal/auth"

// Check is read for one cookie value, for the tests of key rotation.
func (d *DeviceCookies) Check(v string) (auth.Device, bool) { return d.check(v) }

// Len is the number of buckets held, for the tests of the memory bound.
func (l *IPLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
