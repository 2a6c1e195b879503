package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/services/auth-api/internal/admin"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
)

// serviceGrants are the grants docs/admin.md gives the service's role on
// the audit trail: read and append, and the retention function.
var serviceGrants = []string{
	`GRANT USAGE ON SCHEMA public TO %[1]s`,
	`GRANT SELECT, INSERT ON audit_log TO %[1]s`,
	`GRANT EXECUTE ON FUNCTION audit_log_prune(interval) TO %[1]s`,
}

// serviceRole creates a non-superuser role with the documented grants and
// returns a connection acting as it (SET ROLE: every privilege check is
// the role's).
func serviceRole(t *testing.T, pool *pgxpool.Pool) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	role := "kairos_svc_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := pool.Exec(ctx, `CREATE ROLE `+role+` NOSUPERUSER NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(ctx, `DROP OWNED BY `+role)
		_, _ = pool.Exec(ctx, `DROP ROLE `+role)
	})
	for _, g := range serviceGrants {
		if _, err := pool.Exec(ctx, fmt.Sprintf(g, role)); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, `SET ROLE `+role); err != nil {
		t.Fatal(err)
	}
	var super bool
	if err := conn.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil || super {
		t.Fatalf("acting role is a superuser (%v): the test would prove nothing", err)
	}
	return conn
}

func sqlState(err error) string {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code
	}
	return ""
}

// The audit trail is append-only: the service's role may read and append,
// never change or remove a row; only the retention function deletes, and
// then only rows past a retention of at least a day. Even the owner (here
// the superuser) is refused by the trigger.
func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	_, pool := newStore(t)
	ctx := context.Background()
	svc := serviceRole(t, pool)

	insert := `INSERT INTO audit_log (actor, action, outcome, at) VALUES ('test', $1, 'ok', $2)`
	if _, err := svc.Exec(ctx, insert, "old", time.Now().Add(-48*time.Hour)); err != nil {
		t.Fatalf("the service role cannot append: %v", err)
	}
	if _, err := svc.Exec(ctx, insert, "recent", time.Now()); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		who  string
		conn interface {
			Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		}
		sql string
	}{
		{"service", svc, `UPDATE audit_log SET actor = 'someone else'`},
		{"service", svc, `DELETE FROM audit_log`},
		{"service", svc, `TRUNCATE audit_log`},
		{"service", svc, `SELECT audit_log_prune('1 hour')`},
		{"service", svc, `SELECT set_config('kairos.audit_prune', 'on', false); DELETE FROM audit_log`},
		{"owner", pool, `UPDATE audit_log SET actor = 'someone else'`},
		{"owner", pool, `DELETE FROM audit_log`},
		{"owner", pool, `TRUNCATE audit_log`},
	} {
		t.Run(c.who+": "+c.sql, func(t *testing.T) {
			_, err := c.conn.Exec(ctx, c.sql)
			if err == nil {
				t.Fatal("succeeded")
			}
			if s := sqlState(err); s != "42501" && s != "22023" {
				t.Fatalf("refused with %v, want insufficient_privilege (or the retention's invalid parameter)", err)
			}
		})
	}

	var n int64
	if err := svc.QueryRow(ctx, `SELECT audit_log_prune('24 hours')`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("retention job as the service role: %d, %v; want 1 row pruned", n, err)
	}
	rows, err := pool.Query(ctx, `SELECT action FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	actions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(actions, ",") != "recent,audit.pruned" {
		t.Fatalf("after pruning: %v, want the recent row and the prune's own", actions)
	}
}

// PruneAudit goes through the function, so it works for the service role.
func TestPruneAuditKeepsRetention(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (actor, action, outcome, at) VALUES ('t', 'a', 'ok', now() - interval '10 days')`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneAudit(ctx, 30*24*time.Hour); err != nil || n != 0 {
		t.Fatalf("30-day retention pruned %d, %v", n, err)
	}
	if n, err := s.PruneAudit(ctx, 7*24*time.Hour); err != nil || n != 1 {
		t.Fatalf("7-day retention pruned %d, %v; want 1", n, err)
	}
	if _, err := s.PruneAudit(ctx, time.Minute); err == nil {
		t.Fatal("a retention under a day was accepted")
	}
}

// Security-relevant user events land in the trail with the actor of ctx,
// in the transaction of the change.
func TestSecurityEventsAreAudited(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := auth.WithActor(context.Background(), auth.Actor{Name: "self", RequestID: "req-1", ClientIP: "192.0.2.9"})
	uid := user(t, s, "audited@example.com")
	login(t, s, uid, refreshTTL)
	if _, err := s.RevokeAllSessions(ctx, uid, "logout_all"); err != nil {
		t.Fatal(err)
	}
	if err := s.LockLoginSource(ctx, "audited@example.com", "net:192.0.2.9/32", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.LockLoginSource(ctx, "nobody@example.com", "net:192.0.2.9/32", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, uid, func(a auth.Account) events.Event {
		return events.Event{ID: uuid.NewString(), Type: events.UserDeleted, Version: events.Version, OccurredAt: time.Now(),
			User: events.User{UID: a.UID, Username: a.Username, Email: a.Email}}
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Audit(ctx, admin.AuditFilter{UID: uid, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range got {
		actions = append(actions, e.Action)
		if e.Actor != "self" || e.RequestID != "req-1" || e.ClientIP != "192.0.2.9" || e.Outcome != "ok" {
			t.Errorf("%s: actor %q request %q ip %q outcome %q", e.Action, e.Actor, e.RequestID, e.ClientIP, e.Outcome)
		}
	}
	want := "user.deleted,sessions.revoked,login.locked,sessions.revoked" // newest first
	if strings.Join(actions, ",") != want {
		t.Fatalf("audit of %s: %v, want %s", uid, actions, want)
	}
	all, err := s.Audit(ctx, admin.AuditFilter{Action: auth.AuditLoginLocked, Limit: 10})
	if err != nil || len(all) != 1 {
		t.Fatalf("login.locked rows: %d, %v; want 1 (none for an address without an account)", len(all), err)
	}
}
