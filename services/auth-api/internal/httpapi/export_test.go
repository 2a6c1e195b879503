package httpapi

// Len is the number of buckets held, for the tests of the memory bound.
func (l *IPLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
