package hashing

import (
	"context"
	"time"
)

// Acquire exposes the slot semaphore to the black-box tests, so that they
// can hold every slot deterministically instead of racing slow hashes.
func (h *Hasher) Acquire(ctx context.Context) (func(), error) { return h.acquire(ctx) }

// Waiting exposes how many callers are queued for a slot.
func (h *Hasher) Waiting() int64 { return h.waiting.Load() }

// SetRecentHashTime sets the moving average the queue bound follows.
func (h *Hasher) SetRecentHashTime(d time.Duration) { h.recent.Store(int64(d)) }

// MaxWaiting exposes the queue bound.
func (h *Hasher) MaxWaiting() int64 { return h.maxWaiting() }
