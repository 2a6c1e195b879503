package hashing_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/hashing"
	"github.com/kairos-platform/identity/services/auth-api/passhash"
)

// cheap keeps unit tests fast; the OWASP floor is enforced by config, and
// BenchmarkHash measures the real parameters.
var cheap = passhash.Params{MemoryKiB: 64, Time: 1, Parallelism: 1}

func newHasher(t testing.TB, p passhash.Params, slots int, wait time.Duration, reg prometheus.Registerer) *hashing.Hasher {
	t.Helper()
	h, err := hashing.New(p, hashing.Options{Concurrency: slots, QueueTimeout: wait, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func hash(t *testing.T, p passhash.Params, pw string) string {
	t.Helper()
	enc, err := newHasher(t, p, 1, time.Second, nil).Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestHashFormat(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, cheap, 2, time.Second, nil)
	a, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string with the configured parameters", a)
	}
	if strings.Contains(a, "correct horse") {
		t.Fatal("hash contains the password")
	}
	if b, _ := h.Hash(ctx, "correct horse battery staple"); a == b {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerify(t *testing.T) {
	stronger := passhash.Params{MemoryKiB: 128, Time: 2, Parallelism: 2}
	h := newHasher(t, stronger, 2, time.Second, nil)
	current := hash(t, stronger, "pw-current")
	tests := []struct {
		name, password, encoded string
		ok, rehash, err         bool
	}{
		{"right password", "pw-current", current, true, false, false},
		{"wrong password", "pw-Current", current, false, false, false},
		{"empty hash checks the dummy and fails", "pw-current", "", false, false, false},
		{"weaker memory: rehash", "pw", hash(t, passhash.Params{MemoryKiB: 64, Time: 2, Parallelism: 2}, "pw"), true, true, false},
		{"weaker time: rehash", "pw", hash(t, passhash.Params{MemoryKiB: 128, Time: 1, Parallelism: 2}, "pw"), true, true, false},
		{"fewer lanes: rehash", "pw", hash(t, passhash.Params{MemoryKiB: 128, Time: 2, Parallelism: 1}, "pw"), true, true, false},
		{"stronger than configured: no rehash", "pw", hash(t, passhash.Params{MemoryKiB: 256, Time: 3, Parallelism: 2}, "pw"), true, false, false},
		{"not a PHC string", "pw", "plaintext", false, false, true},
		{"bcrypt is refused", "pw", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", false, false, true},
		{"argon2i is refused", "pw", strings.Replace(current, "argon2id", "argon2i", 1), false, false, true},
		{"bad salt encoding", "pw", "$argon2id$v=19$m=64,t=1,p=1$!!!$AAAA", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), tt.password, tt.encoded)
			if (err != nil) != tt.err || ok != tt.ok || rehash != tt.rehash {
				t.Fatalf("Verify = ok %v, rehash %v, err %v; want ok %v, rehash %v, err %v", ok, rehash, err, tt.ok, tt.rehash, tt.err)
			}
		})
	}
}

// With every slot taken, a caller waits (1.5 queue timeouts) and is turned
// away with ErrOverloaded; the wait is bounded and counted.
func TestHashSlotsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHasher(t, cheap, 2, 5*time.Millisecond, reg)
	ctx := context.Background()
	r1, err := h.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := h.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(ctx, "x"); !errors.Is(err, auth.ErrOverloaded) {
		t.Fatalf("Hash with no free slot: %v, want ErrOverloaded", err)
	}
	if _, _, err := h.Verify(ctx, "x", ""); !errors.Is(err, auth.ErrOverloaded) {
		t.Fatalf("Verify with no free slot: %v, want ErrOverloaded", err)
	}
	if got := counter(t, reg, "kairos_password_hash_slot_timeouts_total"); got != 2 {
		t.Fatalf("slot timeouts = %v, want 2", got)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Hash(cancelled, "x"); !errors.Is(err, context.Canceled) && !errors.Is(err, auth.ErrOverloaded) {
		t.Fatalf("Hash with a cancelled context: %v", err)
	}
	r1()
	if _, err := h.Hash(ctx, "x"); err != nil {
		t.Fatalf("Hash after a slot was released: %v", err)
	}
	r2()
}

// The queue for slots holds as many callers as can be served within the
// timeout at the recent hash time: with the one slot taken and four callers
// waiting (1 h timeout, 15 min per hash), the next caller is turned away at
// once rather than after the timeout, and so is an Admit beyond slot + queue;
// releasing makes room again.
func TestHashQueueIsBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHasher(t, cheap, 1, time.Hour, reg)
	h.SetRecentHashTime(15 * time.Minute)
	ctx := context.Background()
	release, err := h.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waiters := make(chan error, 4)
	for range 4 {
		go func() {
			r, err := h.Acquire(ctx)
			if err == nil {
				r()
			}
			waiters <- err
		}()
	}
	for h.Waiting() < 4 {
		time.Sleep(time.Millisecond)
	}
	if _, err := h.Hash(ctx, "x"); !errors.Is(err, auth.ErrOverloaded) {
		t.Fatalf("Hash with a full queue: %v, want ErrOverloaded at once", err)
	}

	var reservations []func()
	for i := range 5 { // one slot + four waiters
		_, r, err := h.Admit(ctx)
		if err != nil {
			t.Fatalf("Admit %d: %v", i, err)
		}
		reservations = append(reservations, r)
	}
	if _, _, err := h.Admit(ctx); !errors.Is(err, auth.ErrOverloaded) {
		t.Fatalf("Admit beyond slot and queue: %v, want ErrOverloaded", err)
	}
	reservations[0]()
	if _, r, err := h.Admit(ctx); err != nil {
		t.Fatalf("Admit after a release: %v", err)
	} else {
		r()
	}
	for _, r := range reservations[1:] {
		r()
	}

	release()
	for range 4 {
		if err := <-waiters; err != nil {
			t.Fatalf("queued caller: %v", err)
		}
	}
	if got := counter(t, reg, "kairos_password_hash_slot_timeouts_total"); got != 2 {
		t.Fatalf("turned away = %v, want 2", got)
	}
}

// An Admit place is given back when the hash made with its context is done,
// before the caller releases it: the work after the hash holds no place.
// Releasing afterwards gives nothing back twice.
func TestAdmissionEndsWithTheHash(t *testing.T) {
	h := newHasher(t, cheap, 1, time.Hour, nil)
	h.SetRecentHashTime(time.Hour) // a bound of one slot and one waiter
	ctx := context.Background()
	hashCtx, release, err := h.Admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := h.Admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Admit(ctx); !errors.Is(err, auth.ErrOverloaded) {
		t.Fatalf("Admit beyond the bound: %v, want ErrOverloaded", err)
	}
	if _, _, err := h.Verify(hashCtx, "x", ""); err != nil {
		t.Fatal(err)
	}
	_, third, err := h.Admit(ctx)
	if err != nil {
		t.Fatalf("Admit after a reserved hash was done: %v", err)
	}
	release() // already given back by the hash
	if _, _, err := h.Admit(ctx); !errors.Is(err, auth.ErrOverloaded) {
		t.Fatalf("Admit after a second release of one place: %v, want ErrOverloaded", err)
	}
	other()
	third()
}

// The queue shrinks as hashes slow down, and always allows one per slot.
func TestHashQueueFollowsHashTime(t *testing.T) {
	h := newHasher(t, cheap, 2, 500*time.Millisecond, nil)
	tests := []struct {
		recent time.Duration
		want   int64
	}{
		{20 * time.Millisecond, 50}, // calm: 25 per slot
		{100 * time.Millisecond, 10},
		{time.Second, 2}, // slower than the timeout: one per slot
	}
	for _, tt := range tests {
		h.SetRecentHashTime(tt.recent)
		if got := h.MaxWaiting(); got != tt.want {
			t.Errorf("hash time %v: queue bound %d, want %d", tt.recent, got, tt.want)
		}
	}
}

// counter reads the value of a label-less counter from g.
func counter(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
