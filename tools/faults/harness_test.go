//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kairos-platform/identity/tools/internal/stack"
)

// Every case drives signups at a steady rate while it injects and heals a
// fault, waits for quiescence, then checks every signup that was answered
// 200: one account, its verification mail, its Agent creation.
const (
	signupRate   = 8 // per second, modest: the matrix shares CI's 2 cores
	outage       = 30 * time.Second
	settle       = 4 * time.Second // signups before the fault and after healing
	quiescence   = 3 * time.Minute // longest wait for every delivery
	password     = "Fault-Matrix-Passw0rd-19"
	notifierWait = 10 * time.Second // NOTIFIER_ACK_WAIT in the matrix
)

// faultEnv keeps retries short, so recovery after a 30 s outage is seconds,
// not the production backoff's minutes.
func faultEnv() map[string]string {
	return map[string]string{
		"NOTIFIER_ACK_WAIT":   notifierWait.String(),
		"NOTIFIER_RETRY_BASE": "500ms",
		"NOTIFIER_RETRY_MAX":  "3s",
		"AGENT_TIMEOUT":       "2s",
	}
}

// row is one line of the printed table.
type row struct {
	Case       string
	Users      int
	Mails      int
	Duplicates int
	Agent      int
	Lost       int
	Recover    time.Duration
	Notes      string
}

// signups sends signups round-robin over the auth-api replicas at
// signupRate until stopped, remembering every address answered 200.
type signups struct {
	st       *stack.Stack
	prefix   string
	hc       *http.Client
	mu       sync.Mutex
	accepted []string
	statuses map[int]int
	stop     chan struct{}
	done     chan struct{}
}

func startSignups(t *testing.T, st *stack.Stack, prefix string) *signups {
	s := &signups{st: st, prefix: prefix, hc: &http.Client{Timeout: 10 * time.Second}, statuses: map[int]int{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second / signupRate)
		defer tick.Stop()
		var wg sync.WaitGroup
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				wg.Wait()
				return
			case <-tick.C:
			}
			wg.Go(func() { s.one(i) })
		}
	}()
	t.Cleanup(s.Stop)
	return s
}

func (s *signups) one(i int) {
	email := fmt.Sprintf("%s-%d@fault.test", s.prefix, i)
	body, _ := json.Marshal(map[string]string{"username": fmt.Sprintf("%s%d", s.prefix, i), "email": email, "password": password})
	auth := s.st.Auth[i%len(s.st.Auth)]
	resp, err := s.hc.Post(auth.URL()+"/api/signup/", "application/json", bytes.NewReader(body))
	status := 0
	if err == nil {
		status = resp.StatusCode
		resp.Body.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses[status]++
	if status == http.StatusOK {
		s.accepted = append(s.accepted, email)
	}
}

// Stop ends the signups and waits for the ones in flight.
func (s *signups) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *signups) Accepted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

func (s *signups) Statuses() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for k, v := range s.statuses {
		out[k] = v
	}
	return out
}

// delivered reports, for the given addresses, how many have their mail and
// their Agent creation.
func delivered(st *stack.Stack, emails []string) (mails, agent int) {
	got := map[string]int{}
	for _, m := range st.SMTP.Messages() {
		for _, to := range m.To {
			got[strings.ToLower(to)]++
		}
	}
	byEmail := map[string]bool{}
	for _, u := range st.Agent.Users() {
		byEmail[strings.ToLower(u.Email)] = true
	}
	for _, e := range emails {
		if got[e] > 0 {
			mails++
		}
		if byEmail[e] {
			agent++
		}
	}
	return mails, agent
}

// waitDelivered polls until every address has its mail and Agent creation,
// returning how long that took (or false at the deadline).
func waitDelivered(st *stack.Stack, emails []string, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for {
		m, a := delivered(st, emails)
		if m == len(emails) && a == len(emails) {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// verifyAll checks every accepted signup against the database, the mail
// sink and the Agent, and fills the row.
func verifyAll(t *testing.T, st *stack.Stack, accepted []string, r *row) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, st.PG.DatabaseURL)
	if err != nil {
		t.Fatalf("database: %v", err)
	}
	defer conn.Close(context.Background())
	accounts := map[string][]string{} // email → uids
	rows, err := conn.Query(ctx, `SELECT lower(email), uid::text FROM users`)
	if err != nil {
		t.Fatalf("users: %v", err)
	}
	for rows.Next() {
		var e, uid string
		if err := rows.Scan(&e, &uid); err != nil {
			t.Fatal(err)
		}
		accounts[e] = append(accounts[e], uid)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	mails := map[string]int{}
	for _, m := range st.SMTP.Messages() {
		for _, to := range m.To {
			mails[strings.ToLower(to)]++
		}
	}
	agentUsers := st.Agent.Users()
	r.Users = len(accepted)
	var lost []string
	for _, e := range accepted {
		uids := accounts[e]
		ok := len(uids) == 1
		if n := mails[e]; n > 0 {
			r.Mails++
			r.Duplicates += n - 1
		} else {
			ok = false
		}
		if len(uids) == 1 {
			if u, found := agentUsers[uids[0]]; found && strings.EqualFold(u.Email, e) {
				r.Agent++
			} else {
				ok = false
			}
		}
		if !ok {
			r.Lost++
			if len(lost) < 5 {
				lost = append(lost, fmt.Sprintf("%s (accounts %d, mails %d)", e, len(uids), mails[e]))
			}
		}
	}
	if r.Lost > 0 {
		t.Errorf("%s: %d of %d accepted signups lost, e.g. %v", r.Case, r.Lost, len(accepted), lost)
	}
	if r.Users == 0 {
		t.Errorf("%s: no signup was accepted", r.Case)
	}
}

// afterHeal runs once a case has healed its fault: it measures the time to
// recover (from now until every signup accepted up to now has its mail and
// its Agent creation), lets signups run a little longer, stops them, waits
// for quiescence and late redeliveries, and checks every accepted signup
// into r. A 5xx other than 503 fails the case.
func afterHeal(t *testing.T, st *stack.Stack, sg *signups, r *row) {
	t.Helper()
	healed := time.Now()
	atHeal := sg.Accepted()
	recovered := make(chan time.Duration, 1)
	go func() {
		_, _ = waitDelivered(st, atHeal, quiescence)
		recovered <- time.Since(healed)
	}()
	time.Sleep(settle)
	sg.Stop()
	accepted := sg.Accepted()
	if d, ok := waitDelivered(st, accepted, quiescence); !ok {
		r.Notes = fmt.Sprintf("not quiescent after %s", d.Round(time.Second))
	}
	r.Recover = <-recovered
	// Let late duplicates (redeliveries after AckWait) arrive before counting.
	time.Sleep(notifierWait + 2*time.Second)
	verifyAll(t, st, accepted, r)
	for code, n := range sg.Statuses() {
		if code >= 500 && code != http.StatusServiceUnavailable {
			t.Errorf("%d signups answered %d", n, code)
		}
	}
}
