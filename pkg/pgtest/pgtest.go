// Package pgtest gives each test a fresh PostgreSQL database cloned from a
// migrated template, so tests run in parallel against a real server.
//
// The server is KAIROS_TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. When it does
// not answer the test fails (never skips) with a line saying how to start it.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server used when KAIROS_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Template describes the schema every test database starts from.
type Template struct {
	// Fingerprint changes whenever the schema changes (e.g. a hash of the
	// migration files); it names the template database, so a new schema
	// gets a new template and an old one is never reused by mistake.
	Fingerprint string
	// Migrate brings the database at url to the schema.
	Migrate func(ctx context.Context, url string) error
}

// ServerURL returns the admin URL of the test server.
func ServerURL() string {
	if u := os.Getenv("KAIROS_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates a database from tpl for this test and drops it when the
// test ends. It returns the database's URL.
func NewDatabase(t testing.TB, tpl Template) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	admin := ServerURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: PostgreSQL is not reachable at %s: %v\n"+
			"start it (e.g. pg_ctlcluster 15 main start) or set KAIROS_TEST_DATABASE_URL", Redact(admin), err)
	}
	defer conn.Close(context.Background())

	tplName := templatePrefix + shortHash(tpl.Fingerprint)
	if err := holders.hold(ctx, admin, tplName); err != nil {
		t.Fatalf("pgtest: template %s: %v", tplName, err)
	}
	built, err := ensureTemplate(ctx, conn, admin, tplName, tpl)
	if err != nil {
		t.Fatalf("pgtest: template %s: %v", tplName, err)
	}
	if built {
		// A new template usually means a new schema: the old ones are litter.
		if err := dropUnusedTemplates(ctx, conn, tplName); err != nil {
			t.Logf("pgtest: dropping unused templates: %v", err)
		}
	}

	name := "kairos_test_" + randomSuffix()
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tplName)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return WithDatabase(admin, name)
}

// ensureTemplate builds the template once per schema and reports whether it
// did. A session advisory lock serialises test binaries that run at the same
// time.
func ensureTemplate(ctx context.Context, conn *pgx.Conn, admin, name string, tpl Template) (bool, error) {
	lockID := lockKey(name)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		return false, err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockID) //nolint:errcheck

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return false, err
	}
	if exists {
		return false, nil
	}
	building := name + buildingSuffix
	if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building)); err != nil {
		return false, err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s", building)); err != nil {
		return false, err
	}
	if err := tpl.Migrate(ctx, WithDatabase(admin, building)); err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	// Renaming last means a half-built template is never used.
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", building)); err != nil {
		return false, err
	}
	_, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name))
	return err == nil, err
}

// lockKey is the id of an advisory lock named s.
func lockKey(s string) int64 {
	sum := sha256Sum(s)
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// WithDatabase returns the PostgreSQL URL raw pointing at database db.
func WithDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

// Redact hides the password of a URL before it is printed or logged.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func shortHash(s string) string {
	h := sha256Sum(s)
	return hex.EncodeToString(h[:6])
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
