//go:build faults

package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kairos-platform/identity/tools/internal/natscluster"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// clusterFault is a case on a 3-node JetStream cluster (TLS, the
// least-privilege users of deploy/examples/nats-accounts.conf, every stream
// and the bucket at R3) under 3 auth-api and 3 notifier replicas. fault
// breaks and repairs nodes while signups run and returns a note.
type clusterFault struct {
	name  string
	nodes int // nodes taken down, one at a time: each may cost redeliveries
	fault func(t *testing.T, cl *natscluster.Cluster) string
}

func TestClusteredFaultMatrix(t *testing.T) {
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	// A cold build of nats-server on a busy 2-core machine takes minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// The current release, as production runs it (Debian's 2.9 binary is
	// the oldest the services support, tested elsewhere).
	bin, err := natscluster.BuildServer(ctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []clusterFault{
		{name: "NATS cluster: USERS stream leader SIGKILLed, restarted", nodes: 1,
			fault: func(t *testing.T, cl *natscluster.Cluster) string {
				leader := streamLeader(t, cl, "")
				start := time.Now()
				leader.Kill()
				next := streamLeader(t, cl, leader.Name)
				elected := time.Since(start)
				time.Sleep(10 * time.Second)
				restartNode(t, leader)
				return fmt.Sprintf("leader %s killed, %s elected in %s, %s back after 10 s", leader.Name, next.Name,
					elected.Round(100*time.Millisecond), leader.Name)
			}},
		{name: "NATS cluster: a non-leader SIGKILLed, restarted", nodes: 1,
			fault: func(t *testing.T, cl *natscluster.Cluster) string {
				leader := streamLeader(t, cl, "")
				var victim *natscluster.Node
				for _, n := range cl.Nodes {
					if n != leader {
						victim = n
						break
					}
				}
				victim.Kill()
				time.Sleep(10 * time.Second)
				restartNode(t, victim)
				if now := streamLeader(t, cl, ""); now != leader {
					return fmt.Sprintf("%s killed; USERS leader moved %s → %s", victim.Name, leader.Name, now.Name)
				}
				return fmt.Sprintf("%s killed, back after 10 s; USERS leader %s throughout", victim.Name, leader.Name)
			}},
		{name: "NATS cluster: rolling restart of the 3 nodes", nodes: 3,
			fault: func(t *testing.T, cl *natscluster.Cluster) string {
				var each []string
				for _, n := range cl.Nodes {
					// As Kubernetes does with the NATS chart's preStop hook:
					// lame duck mode (clients move away), exit, start again,
					// and the next pod only once this one is healthy.
					start := time.Now()
					if err := n.Signal(syscall.SIGUSR2); err != nil {
						t.Fatal(err)
					}
					if _, err := n.Wait(2 * time.Minute); err != nil && n.Running() {
						t.Fatalf("%s did not leave lame duck mode: %v", n.Name, err)
					}
					restartNode(t, n)
					each = append(each, fmt.Sprintf("%s %s", n.Name, time.Since(start).Round(time.Second)))
				}
				return "lame duck, exit, restart, healthy: " + strings.Join(each, ", ")
			}},
	}
	var rows []row
	for _, fc := range cases {
		t.Run(fc.name, func(t *testing.T) { rows = append(rows, runClusterCase(t, root, bin, fc)) })
	}
	printTable(t, "cluster-fault-matrix.md", rows)
}

// streamLeader waits until USERS has a leader other than not and returns it.
func streamLeader(t *testing.T, cl *natscluster.Cluster, not string) *natscluster.Node {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := cl.StreamInfo(ctx, natscluster.AuthAPIUser, "USERS")
		cancel()
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != not {
			if n := cl.Node(info.Cluster.Leader); n != nil {
				return n
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("USERS has no leader (other than %q) after a minute", not)
	return nil
}

func restartNode(t *testing.T, n *natscluster.Node) {
	t.Helper()
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := n.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}

func runClusterCase(t *testing.T, root, bin string, fc clusterFault) row {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl, err := natscluster.Start(ctx, natscluster.Options{Root: root, Dir: t.TempDir(), Bin: bin, Nodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	authEnv, err := cl.ServiceEnv(natscluster.AuthAPIUser)
	if err != nil {
		t.Fatal(err)
	}
	notifierEnv, err := cl.ServiceEnv(natscluster.NotifierUser)
	if err != nil {
		t.Fatal(err)
	}
	authEnv["NATS_STREAM_REPLICAS"], notifierEnv["NATS_STREAM_REPLICAS"] = "3", "3"
	for k, v := range faultEnv() {
		notifierEnv[k] = v
	}
	st, err := stack.Start(ctx, stack.Options{
		OwnPostgres: true, AuthReplicas: 3, NotifierReplicas: 3, NATSURL: cl.URL(),
		AuthEnv: authEnv, NotifierEnv: notifierEnv, Log: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	r := row{Case: fc.name}
	prefix := fmt.Sprintf("c%d", time.Now().UnixNano()%1_000_000)

	sg := startSignups(t, st, prefix)
	time.Sleep(settle)
	checkR3(t, cl)
	stop := make(chan struct{})
	stalls := watchOutbox(st.PG.DatabaseURL, stop)
	note := fc.fault(t, cl)
	close(stop)
	stall := <-stalls
	note += fmt.Sprintf("; events waited for JetStream at most %s (outbox ≤ %d rows)",
		stall.longest.Round(100*time.Millisecond), stall.most)
	afterHeal(t, st, sg, &r)
	statuses := sg.Statuses()
	if n, err := cl.Violations(); err != nil || n > 0 {
		t.Errorf("the nodes logged %d permission violations (%v): a service needs more than its user may do (logs: %s)",
			n, err, filepath.Dir(cl.Nodes[0].LogPath))
	}
	r.Notes = strings.Join(nonEmpty(r.Notes, note, "signups answered "+answers(statuses)), "; ")
	// A node's death can lose acknowledgements it held: each may cost a
	// redelivery of what the consumers had pending (MaxAckPending, 4×16).
	if bound := fc.nodes * 64; r.Duplicates > bound {
		t.Errorf("%d duplicate mails, above the bound %d", r.Duplicates, bound)
	}
	return r
}

// checkR3 fails the case unless every stream the services made is at R3.
func checkR3(t *testing.T, cl *natscluster.Cluster) {
	t.Helper()
	for user, streams := range map[string][]string{
		natscluster.AuthAPIUser:  {"USERS", "SESSIONS"},
		natscluster.NotifierUser: {"USERS_DLQ", "KV_notifier_sent"},
	} {
		for _, s := range streams {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			info, err := cl.StreamInfo(ctx, user, s)
			cancel()
			if err != nil {
				t.Fatalf("stream %s: %v", s, err)
			}
			if info.Config.Replicas != 3 {
				t.Fatalf("stream %s has %d replicas, want 3", s, info.Config.Replicas)
			}
		}
	}
}

// outboxStall is how long, at the most, signups' events waited unpublished in
// a row, and the most that waited at once.
type outboxStall struct {
	longest time.Duration
	most    int
}

// watchOutbox samples the outbox every 100 ms until stop is closed.
func watchOutbox(url string, stop <-chan struct{}) <-chan outboxStall {
	out := make(chan outboxStall, 1)
	go func() {
		var s outboxStall
		var since time.Time // start of the current stretch with rows pending
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			n, err := countPending(ctx, url)
			cancel()
			switch {
			case err != nil:
			case n > 0 && since.IsZero():
				since = time.Now()
			case n == 0:
				since = time.Time{}
			}
			s.most = max(s.most, n)
			if !since.IsZero() {
				s.longest = max(s.longest, time.Since(since))
			}
			select {
			case <-stop:
				out <- s
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
