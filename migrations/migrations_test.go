package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"sync"
	"testing"

	"github.com/kairos-platform/identity/migrations"
	"github.com/kairos-platform/identity/pkg/pgtest"
)

// An empty template: the test migrates it itself.
var empty = pgtest.Template{
	Fingerprint: "empty-v1",
	Migrate:     func(context.Context, string) error { return nil },
}

func TestUpIsSafeConcurrentlyAndLeavesNothingPending(t *testing.T) {
	url := pgtest.NewDatabase(t, empty)
	ctx := context.Background()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	if n, err := migrations.Pending(ctx, db); err != nil || n == 0 {
		t.Fatalf("fresh database: pending = %d, %v; want > 0", n, err)
	}

	var wg sync.WaitGroup
	applied := make([]int, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Go(func() {
			c, err := sql.Open("pgx", url)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			applied[i], errs[i] = migrations.Up(ctx, c)
		})
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		total += applied[i]
	}
	if n, err := migrations.Pending(ctx, db); err != nil || n != 0 {
		t.Fatalf("after Up: pending = %d, %v; want 0", n, err)
	}
	if want := countFiles(t); total != want {
		t.Fatalf("concurrent runs applied %d migrations in all, want each applied once (%d)", total, want)
	}
}

func countFiles(t *testing.T) int {
	t.Helper()
	n := 0
	entries, err := fs.Glob(migrations.FS(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for range entries {
		n++
	}
	return n
}
