//go:build faults

// Package faults is the fault matrix of issue 5 (make test-faults): real
// auth-api and notifier processes, a PostgreSQL server and a JetStream of
// their own, and outages injected while signups run. Nothing lost is the
// pass condition; the table of every case is printed at the end.
package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"testing"
	"text/tabwriter"
	"time"

	"github.com/kairos-platform/identity/pkg/smtptest"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// fault is one case: inject breaks something, heal repairs it; both may
// fail the test. kills counts the notifier replicas killed (each may
// redeliver what it had in flight, the bound on duplicates).
type fault struct {
	name             string
	auth, notifiers  int
	inject           func(t *testing.T, st *stack.Stack)
	heal             func(t *testing.T, st *stack.Stack) string // returns a note for the table
	duringOutage     func(t *testing.T, st *stack.Stack)        // optional checks while broken
	outage           time.Duration
	notifierKills    int
	survivorsOnlyURL bool
}

func TestFaultMatrix(t *testing.T) {
	cases := []fault{
		{
			name: "NATS stopped 30 s, restarted", outage: outage,
			inject: func(t *testing.T, st *stack.Stack) { st.NATS.Stop() },
			heal: func(t *testing.T, st *stack.Stack) string {
				if err := st.NATS.Start(); err != nil {
					t.Fatal(err)
				}
				return ""
			},
		},
		{
			name: "PostgreSQL restarted", outage: 15 * time.Second,
			inject: func(t *testing.T, st *stack.Stack) {
				if err := st.PG.Stop(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			duringOutage: func(t *testing.T, st *stack.Stack) {
				// Readiness must reflect the outage and signups must be
				// answered 503, not hang or 500.
				deadline := time.Now().Add(10 * time.Second)
				for st.Auth[0].Ready() {
					if time.Now().After(deadline) {
						t.Errorf("auth-api /readyz still 200 with PostgreSQL down")
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			},
			heal: func(t *testing.T, st *stack.Stack) string {
				pid := st.Auth[0].PID()
				if err := st.PG.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				up := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := st.Auth[0].WaitReady(ctx); err != nil {
					t.Errorf("auth-api did not recover after PostgreSQL came back: %v", err)
				}
				if st.Auth[0].PID() != pid {
					t.Errorf("auth-api restarted (pid %d → %d); it must recover in place", pid, st.Auth[0].PID())
				}
				return fmt.Sprintf("auth-api ready %s after PostgreSQL, same process", time.Since(up).Round(10*time.Millisecond))
			},
		},
		{
			name: "notifier SIGKILLed mid-backlog, restarted", outage: 10 * time.Second, notifierKills: 2,
			inject: func(t *testing.T, st *stack.Stack) {
				// The first kill builds a backlog while signups go on.
				st.Notifier[0].Kill()
			},
			heal: func(t *testing.T, st *stack.Stack) string {
				// The restarted notifier takes up the backlog; mail and
				// Agent are made slow so messages are in flight, not done,
				// when it is killed again in the middle of the drain.
				st.SMTP.SetMode(smtptest.Hang)
				st.Agent.SetDelay(time.Second)
				restart(t, st.Notifier[0])
				time.Sleep(500 * time.Millisecond)
				st.Notifier[0].Kill()
				st.SMTP.SetMode(smtptest.Accept)
				st.Agent.SetDelay(0)
				restart(t, st.Notifier[0])
				return "killed again with messages in flight"
			},
		},
		{
			name: "auth-api SIGKILLed with outbox rows pending, restarted", outage: 10 * time.Second,
			inject: func(t *testing.T, st *stack.Stack) {
				// With NATS away the outbox fills; then the relay's process dies.
				st.NATS.Stop()
				time.Sleep(5 * time.Second)
				if n := pendingOutbox(t, st); n == 0 {
					t.Errorf("no outbox rows pending before the kill")
				}
				st.Auth[0].Kill()
			},
			heal: func(t *testing.T, st *stack.Stack) string {
				if err := st.NATS.Start(); err != nil {
					t.Fatal(err)
				}
				restart(t, st.Auth[0])
				return ""
			},
		},
		{
			name: "SMTP refusing (451) 30 s", outage: outage,
			inject: func(t *testing.T, st *stack.Stack) { st.SMTP.SetMode(smtptest.RefuseTemporary) },
			heal:   func(t *testing.T, st *stack.Stack) string { st.SMTP.SetMode(smtptest.Accept); return "" },
		},
		{
			name: "SMTP hanging 30 s", outage: outage,
			inject: func(t *testing.T, st *stack.Stack) { st.SMTP.SetMode(smtptest.Hang) },
			heal:   func(t *testing.T, st *stack.Stack) string { st.SMTP.SetMode(smtptest.Accept); return "" },
		},
		{
			name: "Agent answering 500 for 30 s", outage: outage,
			inject: func(t *testing.T, st *stack.Stack) { st.Agent.SetStatus(http.StatusInternalServerError) },
			heal:   func(t *testing.T, st *stack.Stack) string { st.Agent.SetStatus(0); return "" },
		},
		{
			name: "Agent slower than the timeout 30 s", outage: outage,
			inject: func(t *testing.T, st *stack.Stack) { st.Agent.SetDelay(3 * time.Second) },
			heal:   func(t *testing.T, st *stack.Stack) string { st.Agent.SetDelay(0); return "" },
		},
		{
			name: "2 auth-api + 2 notifier, one of each SIGKILLed", auth: 2, notifiers: 2, outage: 10 * time.Second,
			notifierKills: 1,
			inject: func(t *testing.T, st *stack.Stack) {
				st.Auth[1].Kill()
				st.Notifier[1].Kill()
			},
			heal: func(t *testing.T, st *stack.Stack) string { return "survivors carried on" },
		},
	}

	var rows []row
	for _, fc := range cases {
		t.Run(fc.name, func(t *testing.T) {
			r := runCase(t, fc)
			rows = append(rows, r)
		})
	}
	printTable(t, "fault-matrix.md", rows)
}

func restart(t *testing.T, p *stack.Proc) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

func pendingOutbox(t *testing.T, st *stack.Stack) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := countPending(ctx, st.PG.DatabaseURL)
	if err != nil {
		t.Errorf("outbox: %v", err)
	}
	return n
}

func runCase(t *testing.T, fc fault) row {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		OwnPostgres: true, AuthReplicas: fc.auth, NotifierReplicas: fc.notifiers,
		NotifierEnv: faultEnv(), Log: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	r := row{Case: fc.name}
	prefix := fmt.Sprintf("f%d", time.Now().UnixNano()%1_000_000)

	sg := startSignups(t, st, prefix)
	time.Sleep(settle)
	fc.inject(t, st)
	outageStart := time.Now()
	if fc.duringOutage != nil {
		fc.duringOutage(t, st)
	}
	time.Sleep(fc.outage - time.Since(outageStart))
	note := fc.heal(t, st)
	afterHeal(t, st, sg, &r)

	statuses := sg.Statuses()
	if fc.name == "PostgreSQL restarted" && statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no signup was answered 503 while PostgreSQL was down: %v", statuses)
	}
	var notes []string
	for _, n := range []string{r.Notes, note, "signups answered " + answers(statuses)} {
		if n != "" {
			notes = append(notes, n)
		}
	}
	r.Notes = strings.Join(notes, "; ")
	// Duplicates: redelivery after a crash can repeat what a killed replica
	// had in flight (at most its MaxAckPending, 4×16); otherwise none.
	if bound := fc.notifierKills * 64; r.Duplicates > bound {
		t.Errorf("%d duplicate mails, above the bound %d", r.Duplicates, bound)
	}
	return r
}

// answers renders signup statuses, e.g. "200 ×63, 500 ×122, none ×4".
func answers(statuses map[int]int) string {
	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		name := fmt.Sprint(c)
		if c == 0 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", name, statuses[c]))
	}
	return strings.Join(parts, ", ")
}

// printTable prints the rows and writes them as Markdown to out/<file>.
func printTable(t *testing.T, file string, rows []row) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tusers created\tmails delivered\tduplicates\tAgent creations\tlost\ttime to recover\tnotes")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Case, r.Users, r.Mails, r.Duplicates, r.Agent, r.Lost, r.Recover.Round(100*time.Millisecond), r.Notes)
	}
	tw.Flush()
	// go test shows a passing package's output only with -v, so the table
	// also goes to a file beside the test.
	fmt.Println(b.String())
	t.Log("\n" + b.String())
	var md strings.Builder
	md.WriteString("| case | users created | mails delivered | duplicates | Agent creations | lost | time to recover | notes |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s | %d | %d | %d | %d | %d | %s | %s |\n", r.Case, r.Users, r.Mails, r.Duplicates, r.Agent, r.Lost, r.Recover.Round(100*time.Millisecond), r.Notes)
	}
	out := filepath.Join("out", file)
	_ = os.MkdirAll("out", 0o755)
	if err := os.WriteFile(out, []byte(md.String()), 0o644); err == nil {
		fmt.Fprintf(os.Stderr, "fault matrix table written to tools/faults/%s\n", out)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
