package pgtest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

const (
	templatePrefix = "kairos_tpl_"
	buildingSuffix = "_building"
)

// useLock names the advisory lock that every test binary using a template
// holds, shared, for as long as it runs: a template whose use lock is free
// belongs to no running binary, so nobody can be cloning it or about to.
func useLock(template string) int64 { return lockKey("use:" + template) }

// holders is process state by nature: the use locks must outlive every test
// of the binary and go when the process goes, and a package without a
// TestMain has no other place to keep them. The server releases a session's
// locks when its connection closes, so a binary that crashes frees them too.
var holders = &useHolders{conns: map[string]*pgx.Conn{}}

type useHolders struct {
	mu    sync.Mutex
	conns map[string]*pgx.Conn
}

// hold takes the use lock of template for the rest of the process, once.
// It runs before the template is looked up, so a template dropped by another
// binary in between is simply built again.
func (h *useHolders) hold(ctx context.Context, admin, template string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[template] != nil {
		return nil
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock_shared($1)", useLock(template)); err != nil {
		conn.Close(context.Background())
		return err
	}
	h.conns[template] = conn
	return nil
}

// release gives the use lock back, as the end of the process would.
func (h *useHolders) release(template string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.conns[template]; c != nil {
		c.Close(context.Background())
		delete(h.conns, template)
	}
}

// dropUnusedTemplates drops every template (and half-built one) other than
// keep that no running test binary uses. Taking a template's use lock
// exclusively proves that, and keeps any binary from starting to use it
// until the drop is done.
func dropUnusedTemplates(ctx context.Context, conn *pgx.Conn, keep string) error {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE $1`,
		strings.ReplaceAll(templatePrefix, "_", `\_`)+"%")
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		tpl := strings.TrimSuffix(name, buildingSuffix)
		if tpl == keep {
			continue
		}
		if err := dropIfUnused(ctx, conn, name, tpl); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

func dropIfUnused(ctx context.Context, conn *pgx.Conn, name, tpl string) error {
	var free bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", useLock(tpl)).Scan(&free); err != nil {
		return err
	}
	if !free {
		return nil
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", useLock(tpl)) //nolint:errcheck
	// Without FORCE: a session connected to it (a build in progress under an
	// older pgtest) makes the drop fail instead of breaking that session.
	_, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s", pgx.Identifier{name}.Sanitize()))
	return err
}
