package consumer

import "github.com/nats-io/nats.go"

// headerCarrier lets the OTel propagator read and write NATS headers by
// their exact names. propagation.HeaderCarrier would canonicalise
// "traceparent" to "Traceparent", which NATS (case-sensitive) treats as a
// different header.
type headerCarrier nats.Header

func (h headerCarrier) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h headerCarrier) Set(key, value string) { h[key] = []string{value} }

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
