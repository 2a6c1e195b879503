package revocation_test

import (
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
