package revocation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
)

// BenchmarkRevoked is the check's lookup with 10,000 revoked sessions (far
// more than one ACCESS_TOKEN_TTL of logouts), for a live token (the common
// miss) and a revoked one, while another goroutine keeps revoking.
func BenchmarkRevoked(b *testing.B) {
	l := revocation.New(time.Hour)
	now := time.Now()
	var revoked string
	for i := range 10_000 {
		revoked = uuid.Must(uuid.NewV7()).String()
		l.Apply(rev(fmt.Sprint("u", i), now, revoked), now)
	}
	live := uuid.Must(uuid.NewV7()).String()
	for name, sid := range map[string]string{"miss": live, "hit": revoked} {
		b.Run(name, func(b *testing.B) {
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
						l.Apply(rev("writer", now, uuid.NewString()), now)
						time.Sleep(time.Millisecond)
					}
				}
			}()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.Revoked("u1", sid)
				}
			})
			b.StopTimer()
			close(stop)
			<-done
		})
	}
}

// BenchmarkCheck is the ingress check's work per request with a current feed
// and 1,000 revoked sessions: verification plus the deny-list lookup.
func BenchmarkCheck(b *testing.B) {
	c, _, a, now := checker(b)
	for i := range 1000 {
		c.List.Apply(rev(fmt.Sprint("u", i), *now, uuid.Must(uuid.NewV7()).String()), *now)
	}
	c.List.Heard(*now)
	tok, _, err := a.Issue("u", sidAt(b, *now), true)
	if err != nil {
		b.Fatal(err)
	}
	h := "Bearer " + tok
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Check(context.Background(), h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
