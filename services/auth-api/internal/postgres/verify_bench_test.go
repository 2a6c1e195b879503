package postgres_test

import (
	"context"
	"crypto/sha256"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kairos-platform/identity/migrations/migrationstest"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

// BenchmarkConsumeToken is the load tool's verify scenario at the store:
// 16 clients, each click on a fresh link (use the token, verify the account,
// revoke its other tokens), so the round trips of the transaction show.
func BenchmarkConsumeToken(b *testing.B) {
	pool := migrationstest.NewPool(b)
	s := postgres.New(pool)
	ctx := context.Background()
	n := b.N + 64
	if _, err := pool.Exec(ctx, `
		INSERT INTO users (uid, username, email, password_hash)
		SELECT md5('bt' || i)::uuid, 'bt' || i, 'bt' || i || '@bench.test', 'x'
		FROM generate_series(1, $1::int) AS i`, n); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO verification_tokens (token_hash, uid, expires_at)
		SELECT sha256(convert_to('bt' || i, 'UTF8')), md5('bt' || i)::uuid, now() + interval '1 day'
		FROM generate_series(1, $1::int) AS i`, n); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(8) // × GOMAXPROCS clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			hash := sha256.Sum256([]byte("bt" + strconv.FormatInt(next.Add(1), 10)))
			st, err := s.ConsumeToken(ctx, hash[:], time.Now())
			if err != nil || !st.Consumed {
				b.Errorf("ConsumeToken: %+v, %v", st, err)
				return
			}
		}
	})
}
