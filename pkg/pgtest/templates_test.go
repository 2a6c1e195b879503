package pgtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

func noMigration(context.Context, string) error { return nil }

// A new template drops those no running binary uses, and keeps those one does.
func TestBuildingATemplateDropsOnlyUnusedOnes(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	exists := func(name string) bool {
		var ok bool
		if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	run := randomSuffix()
	stale := Template{Fingerprint: "pgtest-stale-" + run, Migrate: noMigration}
	fresh := Template{Fingerprint: "pgtest-fresh-" + run, Migrate: noMigration}
	staleName, freshName := templatePrefix+shortHash(stale.Fingerprint), templatePrefix+shortHash(fresh.Fingerprint)
	busyName := templatePrefix + shortHash("pgtest-busy-"+run)
	t.Cleanup(func() {
		holders.release(freshName)
		for _, n := range []string{staleName, freshName, busyName} {
			admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", n)) //nolint:errcheck
		}
	})

	// A binary that used the stale template and has ended.
	t.Run("stale", func(t *testing.T) { NewDatabase(t, stale) })
	holders.release(staleName)
	// A binary still running with another template: it holds the use lock.
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+busyName); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock_shared($1)", useLock(busyName)); err != nil {
		t.Fatal(err)
	}

	t.Run("fresh", func(t *testing.T) { NewDatabase(t, fresh) })

	if exists(staleName) {
		t.Errorf("%s, used by no running binary, survived a new template", staleName)
	}
	if !exists(busyName) {
		t.Errorf("%s was dropped while a binary held it", busyName)
	}
	if !exists(freshName) {
		t.Errorf("%s, the template just built, is gone", freshName)
	}
}

// A binary whose template was dropped between two of its uses (it had not
// held it yet) builds it again.
func TestUnusedTemplateIsRebuiltAfterADrop(t *testing.T) {
	tpl := Template{Fingerprint: "pgtest-rebuilt-" + randomSuffix(), Migrate: noMigration}
	name := templatePrefix + shortHash(tpl.Fingerprint)
	t.Cleanup(func() {
		holders.release(name)
		c, err := pgx.Connect(context.Background(), ServerURL())
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name) //nolint:errcheck
			c.Close(context.Background())
		}
	})
	t.Run("first", func(t *testing.T) { NewDatabase(t, tpl) })
	holders.release(name)
	c, err := pgx.Connect(context.Background(), ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := dropUnusedTemplates(context.Background(), c, "none"); err != nil {
		t.Logf("drop: %v", err) // other binaries' templates may be busy
	}
	t.Run("again", func(t *testing.T) { NewDatabase(t, tpl) })
}
