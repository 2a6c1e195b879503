//go:build faults

package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kairos-platform/identity/tools/internal/stack"
)

// failoverGap is how long the system runs without a primary: the time an
// operator (CloudNativePG, Patroni) takes to notice the death and promote.
const failoverGap = 10 * time.Second

// TestPostgresFailover SIGKILLs the PostgreSQL primary under signups and
// promotes its streaming standby. auth-api replicas reach both through one
// multi-host DATABASE_URL with target_session_attrs=read-write and must find
// the new primary without a restart; while there is none, signups are
// answered 503 with Retry-After, never 500, and nothing answered 200 is
// lost. The standby is synchronous: with asynchronous replication a commit
// acknowledged by the primary may not have reached the standby when the
// primary dies, and that loss is by design, not a fault of the services.
func TestPostgresFailover(t *testing.T) {
	if !stack.HasServerBinaries() {
		t.Fatal("PostgreSQL server binaries (pg_ctl, initdb, pg_basebackup) not found in PATH or /usr/lib/postgresql/*/bin: install the PostgreSQL server package")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "kairos-failover-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	primary, err := stack.OwnServer(ctx, filepath.Join(dir, "primary"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	standby, err := primary.Standby(ctx, filepath.Join(dir, "standby"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Close)

	dbURL := stack.FailoverURL(primary, standby)
	st, err := stack.Start(ctx, stack.Options{
		Postgres: primary, AuthReplicas: 3, NotifierReplicas: 2,
		AuthEnv: map[string]string{"DATABASE_URL": dbURL}, NotifierEnv: faultEnv(), Log: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	pids := map[string]int{}
	for _, p := range st.Auth {
		pids[p.Name] = p.PID()
	}
	r := row{Case: "PostgreSQL primary SIGKILLed, standby promoted"}
	sg := startSignups(t, st, fmt.Sprintf("pf%d", time.Now().UnixNano()%1_000_000))
	time.Sleep(settle)

	if err := primary.Crash(); err != nil {
		t.Fatal(err)
	}
	crashed := time.Now()
	noPrimary := probeNoPrimary(t, st)
	time.Sleep(failoverGap - time.Since(crashed))
	if err := standby.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	promoted := time.Now()
	// From here on the standby is the database of record.
	st.PG = standby
	serving := waitSignupServed(t, st)
	atHeal := sg.Accepted()
	recovered := make(chan time.Duration, 1)
	go func() {
		_, _ = waitDelivered(st, atHeal, quiescence)
		recovered <- time.Since(promoted)
	}()
	time.Sleep(settle)
	sg.Stop()
	accepted := sg.Accepted()
	if d, ok := waitDelivered(st, accepted, quiescence); !ok {
		r.Notes = fmt.Sprintf("not quiescent after %s; ", d.Round(time.Second))
	}
	r.Recover = <-recovered
	time.Sleep(notifierWait + 2*time.Second)
	verifyAll(t, st, accepted, &r)

	for _, p := range st.Auth {
		if p.PID() != pids[p.Name] {
			t.Errorf("%s restarted (pid %d → %d); it must find the new primary in place", p.Name, pids[p.Name], p.PID())
		}
	}
	statuses := sg.Statuses()
	for code, n := range statuses {
		if code >= 500 && code != http.StatusServiceUnavailable {
			t.Errorf("%d signups answered %d during the failover", n, code)
		}
	}
	if r.Duplicates > 0 {
		// No notifier died: a duplicate could only come from the relay
		// publishing a row twice, beyond the stream's duplicate window.
		t.Errorf("%d duplicate mails", r.Duplicates)
	}
	r.Notes += fmt.Sprintf("no primary for %s: %s; every replica served a signup %s after the promotion, same processes; signups answered %s",
		promoted.Sub(crashed).Round(100*time.Millisecond), noPrimary, serving.Round(10*time.Millisecond), answers(statuses))
	printTable(t, "pg-failover.md", []row{r})
}

// probeNoPrimary sends a signup to every replica once the primary is gone
// and checks each is refused with 503 and Retry-After; it returns what they
// saw, for the table.
func probeNoPrimary(t *testing.T, st *stack.Stack) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	seen := ""
	for i, p := range st.Auth {
		body := fmt.Sprintf(`{"username":"probe%d","email":"probe%d@fault.test","password":%q}`, i, i, password)
		resp, err := hc.Post(p.URL()+"/api/signup/", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Errorf("%s: signup with no primary: %v", p.Name, err)
			continue
		}
		resp.Body.Close()
		ra := resp.Header.Get("Retry-After")
		if resp.StatusCode != http.StatusServiceUnavailable || ra == "" {
			t.Errorf("%s: signup with no primary answered %d (Retry-After %q), want 503 with Retry-After", p.Name, resp.StatusCode, ra)
		}
		if seen == "" {
			seen = fmt.Sprintf("%d, Retry-After %s", resp.StatusCode, ra)
		}
	}
	return seen
}

// waitSignupServed returns how long after the call every auth-api replica
// answered a signup 200 again (each through its own pool).
func waitSignupServed(t *testing.T, st *stack.Stack) time.Duration {
	t.Helper()
	start := time.Now()
	hc := &http.Client{Timeout: 10 * time.Second}
	for i, p := range st.Auth {
		for try := 0; ; try++ {
			body := fmt.Sprintf(`{"username":"back%d-%d","email":"back%d-%d@fault.test","password":%q}`, i, try, i, try, password)
			resp, err := hc.Post(p.URL()+"/api/signup/", "application/json", bytes.NewBufferString(body))
			last := fmt.Sprint(err)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Logf("%s: signup served %s after the promotion", p.Name, time.Since(start).Round(10*time.Millisecond))
					break
				}
				last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			}
			if time.Since(start) > time.Minute {
				t.Fatalf("%s: no signup served a minute after the promotion (last: %s)", p.Name, last)
			}
			if try%20 == 0 {
				t.Logf("%s: %s after the promotion: %s", p.Name, time.Since(start).Round(10*time.Millisecond), last)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return time.Since(start)
}
