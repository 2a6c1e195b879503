package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// scenario is the published record of one scenario.
type scenario struct {
	Name        string           `json:"name"`
	Mode        string           `json:"mode"`
	Seconds     float64          `json:"seconds"`
	Requests    int64            `json:"requests"`
	Throughput  float64          `json:"throughput_per_s"` // expected answers per second
	Latency     latency          `json:"latency"`          // every answered request
	Served      latency          `json:"served_latency"`   // expected answers only
	Classes     map[string]int64 `json:"classes"`
	RetryAfter  [2]int64         `json:"retry_after_with_without"`
	Inbox       *latency         `json:"signup_to_inbox,omitempty"`
	Agent       *latency         `json:"signup_to_agent,omitempty"`
	AuthRSS     float64          `json:"auth_api_peak_rss_mib"`
	NotifierRSS float64          `json:"notifier_peak_rss_mib"`
	OutboxMax   float64          `json:"outbox_pending_max"`
	Extra       map[string]any   `json:"extra,omitempty"`
	// Ceiling is the rate bracketing the scenario (shape.Ceiling): the mean
	// of the rates measured just before and just after it.
	Ceiling float64 `json:"ceiling_per_s,omitempty"`
	// ceilingErr is why the bracketing ceiling could not be measured.
	ceilingErr error
	// genCores is the load generator's CPU (cores) while the scenario ran.
	genCores float64
	Overload *overloadFigures `json:"overload,omitempty"`
}

// runner holds what every scenario needs.
type runner struct {
	st      *stack.Stack
	api     *api
	cfg     config
	run     string // unique per run, part of generated addresses
	started sync.Map
	signups atomic.Int64 // numbers every signup of the run, so no address repeats
	hash    string       // the seeded accounts' password hash
}

func (r *runner) measure(ctx context.Context, name string, s shape, o op) scenario {
	waited, quiet := r.settle(ctx)
	var before float64
	var ceilingErr error
	if s.Ceiling != nil {
		before, ceilingErr = s.Ceiling(ctx, 0)
	}
	for _, p := range r.st.All() {
		p.ResetPeakRSS()
	}
	stopPoll, outboxMax := r.pollOutbox(ctx)
	profDone := r.profile(ctx, name, s)
	cpu0, t0 := generatorCPU(), time.Now()
	res := drive(ctx, s, o)
	genCores := (generatorCPU() - cpu0).Seconds() / time.Since(t0).Seconds()
	stopPoll()
	<-profDone
	sc := scenario{
		Name: name, Seconds: res.Elapsed.Seconds(), Requests: res.Count, Classes: res.Classes,
		Latency: summarize(res.Latencies), Served: summarize(res.Served),
		RetryAfter: [2]int64{res.Retry.With, res.Retry.Without},
		OutboxMax:  outboxMax(),
		genCores:   genCores,
	}
	sc.noteSettled(waited, quiet)
	if s.Ceiling != nil && ceilingErr == nil {
		// The host's speed drifts by ±10 % within a minute (a 4 s argon2id
		// rate read 57.5 to 68.2 hashes/s in one quiet minute), so a
		// ceiling from another moment of the run cannot judge a scenario:
		// this one brackets it, after the system settled.
		waited2, _ := r.settle(ctx)
		var after float64
		if after, ceilingErr = s.Ceiling(ctx, 1); ceilingErr == nil {
			sc.Ceiling = round((before + after) / 2)
			sc.note(map[string]any{"ceiling_before": round(before), "ceiling_after": round(after), "settled_after_s": round(waited2.Seconds())})
		}
	}
	sc.ceilingErr = ceilingErr
	if s.Concurrency > 0 {
		sc.Mode = fmt.Sprintf("closed loop, %d clients", s.Concurrency)
	} else {
		sc.Mode = fmt.Sprintf("open loop, %.0f/s", s.Rate)
	}
	if res.Elapsed > 0 {
		sc.Throughput = round(float64(res.OK) / res.Elapsed.Seconds())
	}
	r.rss(&sc)
	return sc
}

func (r *runner) rss(sc *scenario) {
	for _, p := range r.st.Auth {
		sc.AuthRSS = max(sc.AuthRSS, mib(p.PeakRSS()))
	}
	for _, p := range r.st.Notifier {
		sc.NotifierRSS = max(sc.NotifierRSS, mib(p.PeakRSS()))
	}
}

// pollOutbox reads kairos_outbox_pending from auth-api's /metrics while a
// scenario runs and keeps the largest value.
func (r *runner) pollOutbox(ctx context.Context) (stop func(), maxSeen func() float64) {
	var mu sync.Mutex
	var peak float64
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if v, err := scrape(ctx, r.st.Auth[0].AdminURL(), "kairos_outbox_pending"); err == nil {
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }, func() float64 { mu.Lock(); defer mu.Unlock(); return peak }
}

// hashing is shape(conc) for a scenario bounded by argon2id.
func (r *runner) hashing(conc int) shape {
	s := r.shape(conc)
	s.Ceiling = r.argonCeiling
	return s
}

// argonCeiling measures argon2id on every core for half the ceiling time.
func (r *runner) argonCeiling(ctx context.Context, _ int) (float64, error) {
	return argonRate(ctx, r.cfg.Argon, r.cfg.CeilingTime/2), nil
}

// shape is closed loop at conc clients, or open loop at -rate when set.
func (r *runner) shape(conc int) shape {
	if r.cfg.Rate > 0 {
		return shape{Rate: r.cfg.Rate, Warmup: r.cfg.Warmup, Duration: r.cfg.Duration}
	}
	return shape{Concurrency: conc, Warmup: r.cfg.Warmup, Duration: r.cfg.Duration}
}

func (r *runner) signupOp() op {
	want := expect(is(200))
	return func(ctx context.Context, _ int64) outcome {
		i := r.signups.Add(1)
		email := fmt.Sprintf("su-%s-%d@load.test", r.run, i)
		t0 := time.Now()
		out := want(r.api.signup(ctx, fmt.Sprintf("su%d", i), email, seedPassword))
		if out.ok {
			r.started.Store(email, t0)
		}
		return out
	}
}

// signup runs signups; with rate > 0 open loop at that rate, else closed
// loop. It then waits for the mails and Agent creations of every accepted
// signup and reports their latency from the request's start.
func (r *runner) signup(ctx context.Context, name string, rate float64) scenario {
	s := shape{Concurrency: r.cfg.Concurrency, Warmup: r.cfg.Warmup, Duration: r.cfg.Duration, Ceiling: r.argonCeiling}
	if rate > 0 {
		s = shape{Rate: rate, Warmup: r.cfg.Warmup, Duration: r.cfg.Duration}
	}
	mailsBefore, agentBefore, usersBefore := len(r.st.SMTP.Messages()), len(r.st.Agent.Calls()), len(r.st.Agent.Users())
	r.started.Clear()
	sc := r.measure(ctx, name, s, r.signupOp())
	// Every accepted signup (warm-up included) must produce a mail and an
	// Agent creation; wait for them. Mixed runs before add theirs too, so
	// this waits for at least as many as this scenario accepted.
	var accepted int
	r.started.Range(func(any, any) bool { accepted++; return true })
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, _ = r.st.SMTP.WaitFor(wctx, mailsBefore+accepted)
	_, _ = r.st.Agent.WaitForUsers(wctx, usersBefore+accepted)
	var inbox, agent []time.Duration
	for _, m := range r.st.SMTP.Messages()[mailsBefore:] {
		for _, to := range m.To {
			if t0, ok := r.started.Load(strings.ToLower(to)); ok {
				inbox = append(inbox, m.ReceivedAt.Sub(t0.(time.Time)))
			}
		}
	}
	for _, c := range r.st.Agent.Calls()[agentBefore:] {
		if c.Status != 201 {
			continue
		}
		if t0, ok := r.started.Load(strings.ToLower(c.Body.Email)); ok {
			agent = append(agent, c.At.Sub(t0.(time.Time)))
		}
	}
	in, ag := summarize(inbox), summarize(agent)
	sc.Inbox, sc.Agent = &in, &ag
	sc.note(map[string]any{"accepted_signups": accepted, "mails_matched": in.N, "agent_creations_matched": ag.N})
	if rate > 0 {
		// The reference for the signup-to-inbox latency: the hash alone at
		// this rate, on the settled machine, right after the scenario.
		r.settle(ctx)
		alone := hashAlone(ctx, r.cfg.Argon, rate, r.cfg.Duration/2)
		sc.note(map[string]any{"argon2id_alone_p50_ms": alone.P50, "argon2id_alone_p99_ms": alone.P99})
	}
	if in.N < accepted || ag.N < accepted {
		sc.Extra["notifier_messages"] = notifierCounts(ctx, r.st)
	}
	return sc
}

func (r *runner) verify(ctx context.Context) scenario {
	want := expect(is(200))
	return r.measure(ctx, "verify", r.shape(2*r.cfg.Concurrency), func(ctx context.Context, i int64) outcome {
		return want(r.api.verify(ctx, verifyToken("vt", 1+(i-1)%int64(r.cfg.VerifyTokens))))
	})
}

func (r *runner) loginOK(ctx context.Context, name string, conc int, s *shape) scenario {
	want := expect(is(200))
	sh := r.shape(conc)
	if s != nil {
		sh = *s
	}
	sh.Ceiling = r.argonCeiling
	return r.measure(ctx, name, sh, func(ctx context.Context, i int64) outcome {
		return want(r.api.login(ctx, fmt.Sprintf("lg%d@load.test", 1+i%int64(r.cfg.LoginAccounts)), seedPassword, ""))
	})
}

func (r *runner) loginWrong(ctx context.Context) scenario {
	want := expect(is(401))
	return r.measure(ctx, "login: wrong password", r.hashing(r.cfg.Concurrency), func(ctx context.Context, i int64) outcome {
		// Spread over many accounts so none reaches the lockout threshold.
		return want(r.api.login(ctx, fmt.Sprintf("lw%d@load.test", 1+i%int64(r.cfg.WrongAccounts)), "wrong-"+seedPassword, ""))
	})
}

func (r *runner) loginUnknown(ctx context.Context) scenario {
	want := expect(is(401))
	return r.measure(ctx, "login: unknown email", r.hashing(r.cfg.Concurrency), func(ctx context.Context, i int64) outcome {
		return want(r.api.login(ctx, fmt.Sprintf("nx-%s-%d@load.test", r.run, i), seedPassword, ""))
	})
}

// mixed is a realistic profile: 65% logins, 10% failed logins, 15% verify
// clicks, 10% signups.
func (r *runner) mixed(ctx context.Context) scenario {
	ok200, ok401 := expect(is(200)), expect(is(401))
	signup := r.signupOp()
	var verifies atomic.Int64
	return r.measure(ctx, "mixed", r.shape(r.cfg.Concurrency), func(ctx context.Context, i int64) outcome {
		switch i % 20 {
		case 0, 1:
			return signup(ctx, i)
		case 2, 3, 4:
			return ok200(r.api.verify(ctx, verifyToken("mx", 1+verifies.Add(1)%int64(r.cfg.VerifyTokens))))
		case 5, 6:
			return ok401(r.api.login(ctx, fmt.Sprintf("lw%d@load.test", 1+i%int64(r.cfg.WrongAccounts)), "wrong-"+seedPassword, ""))
		default:
			return ok200(r.api.login(ctx, fmt.Sprintf("lg%d@load.test", 1+i%int64(r.cfg.LoginAccounts)), seedPassword, ""))
		}
	})
}

// flood: many concurrent logins. Excess must be shed (503/429 with
// Retry-After) while what is served stays fast and memory stays bounded.
func (r *runner) flood(ctx context.Context) scenario {
	want := expect(is(200))
	sh := shape{Concurrency: r.cfg.FloodClients, Warmup: time.Second, Duration: r.cfg.Duration}
	flood := newAPI(r.api.base, r.cfg.FloodClients)
	sc := r.measure(ctx, fmt.Sprintf("flood: %d concurrent logins", r.cfg.FloodClients), sh, func(ctx context.Context, i int64) outcome {
		return want(flood.login(ctx, fmt.Sprintf("lg%d@load.test", 1+i%int64(r.cfg.LoginAccounts)), seedPassword, ""))
	})
	return sc
}

// stuffing: wrong passwords over many accounts from many addresses while
// the owners of those accounts log in from their own addresses with the
// device cookies of an earlier login. The lockout counts per source, so the
// attack must not keep the owners out.
func (r *runner) stuffing(ctx context.Context) scenario {
	cookies, err := r.ownerDevices(ctx)
	if err != nil {
		return scenario{Name: "credential stuffing", Mode: "owners' first logins failed: " + err.Error()}
	}
	for _, p := range r.st.All() {
		p.ResetPeakRSS()
	}
	rssBefore := mib(r.st.Auth[0].PeakRSS())
	lockBefore := scrapeAll(ctx, r.st.Auth[0].AdminURL(), "kairos_login_lockouts_total")
	// 401 is the expected answer; 429 means a source (or, at the ceiling, the
	// account) locked.
	attack := expect(is(401))
	rec, owners := newRecorder(), newRecorder()
	rec.on.Store(true)
	owners.on.Store(true)
	var next, busy atomic.Int64
	start := time.Now()
	done := make(chan struct{})
	var lwg sync.WaitGroup
	for w := range 2 {
		lwg.Go(func() {
			want := expect(is(200))
			for i := int64(w); ; i += 2 {
				select {
				case <-done:
					return
				default:
				}
				n := int(i % int64(r.cfg.StuffAccounts))
				t0 := time.Now()
				// A 503 asks the client to come back after Retry-After, as a
				// frontend does: the owner's login is what happens by then
				// (at most three retries); first-try 503s are counted too.
				st, ra, _, err := r.api.loginDevice(ctx, fmt.Sprintf("st%d@load.test", 1+n), seedPassword, ownerAddr(n), cookies[n])
				if st == http.StatusServiceUnavailable {
					busy.Add(1)
				}
				for try := 0; st == http.StatusServiceUnavailable && ra && try < 3 && ctx.Err() == nil; try++ {
					time.Sleep(time.Second)
					st, ra, _, err = r.api.loginDevice(ctx, fmt.Sprintf("st%d@load.test", 1+n), seedPassword, ownerAddr(n), cookies[n])
				}
				owners.record(time.Since(t0), want(st, ra, err))
			}
		})
	}
	var wg sync.WaitGroup
	for range r.cfg.Concurrency * 2 {
		wg.Go(func() {
			for {
				j := next.Add(1)
				if j > int64(r.cfg.StuffAttempts) || ctx.Err() != nil {
					return
				}
				ip := fmt.Sprintf("%s.%d", []string{"192.0.2", "198.51.100", "203.0.113"}[j%3], 1+rand.IntN(254))
				t0 := time.Now()
				out := attack(r.api.login(ctx, fmt.Sprintf("st%d@load.test", 1+j%int64(r.cfg.StuffAccounts)), "guess-"+fmt.Sprint(j), ip))
				rec.record(time.Since(t0), out)
			}
		})
	}
	wg.Wait()
	close(done)
	lwg.Wait()
	elapsed := time.Since(start)
	lockAfter := scrapeAll(ctx, r.st.Auth[0].AdminURL(), "kairos_login_lockouts_total")
	locks := map[string]float64{}
	for k, v := range lockAfter {
		locks[k] = v - lockBefore[k]
	}
	sc := scenario{
		Name: fmt.Sprintf("credential stuffing: %d wrong passwords over %d accounts", r.cfg.StuffAttempts, r.cfg.StuffAccounts),
		Mode: fmt.Sprintf("%d attackers + 2 clients logging the owners in with their device cookies", r.cfg.Concurrency*2), Seconds: round(elapsed.Seconds()),
		Requests: rec.res.Count, Classes: rec.res.Classes, Latency: summarize(rec.res.Latencies),
		RetryAfter: [2]int64{rec.res.Retry.With, rec.res.Retry.Without},
		Throughput: round(float64(rec.res.Count) / elapsed.Seconds()),
	}
	r.rss(&sc)
	sc.note(map[string]any{
		"lockouts":          locks,
		"legit_logins":      owners.res.Count,
		"legit_classes":     owners.res.Classes,
		"legit_latency":     summarize(owners.res.Latencies),
		"owner_success_pct": pct(owners.res.Classes["ok"], owners.res.Count),
		// What the lockout itself refused the owners (401 or 429): the figure
		// this scenario exists for; 503s are the hashing gate's overload.
		"owner_refused_by_lockout": owners.res.Classes["4xx"] + owners.res.Classes["429"],
		"owner_first_try_503":      busy.Load(),
		"auth_api_rss_before":      rssBefore,
		"answered_429_locked":      rec.res.Classes["429"],
		"answered_401_wrong_pw":    rec.res.Classes["ok"],
	})
	return sc
}

// ownerAddr is the address owner n logs in from: outside the attackers'.
func ownerAddr(n int) string { return fmt.Sprintf("10.%d.%d.1", n/256, n%256) }

// ownerDevices logs every attacked account's owner in once, before the
// attack, and returns the device cookies the logins set.
func (r *runner) ownerDevices(ctx context.Context) ([]string, error) {
	cookies := make([]string, r.cfg.StuffAccounts)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 2 { // few at a time: these logins must not be shed as overload
		wg.Go(func() {
			for {
				n := int(next.Add(1)) - 1
				if n >= len(cookies) || ctx.Err() != nil {
					return
				}
				for try := 0; ; try++ { // a 503 (hashing busy) is retried
					st, _, c, err := r.api.loginDevice(ctx, fmt.Sprintf("st%d@load.test", 1+n), seedPassword, ownerAddr(n), "")
					if err == nil && st == 200 && c != "" {
						cookies[n] = c
						break
					}
					if try == 20 || ctx.Err() != nil {
						failed.Add(1)
						break
					}
					time.Sleep(500 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return nil, fmt.Errorf("%d of %d owners got no device cookie (is DEVICE_COOKIE_KEY_FILE set?)", n, len(cookies))
	}
	return cookies, nil
}

func pct(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return round(100 * float64(part) / float64(whole))
}

// backlog: with the notifier stopped, n user.created events are published;
// the notifier is started and the time until every mail and Agent creation
// arrived gives the drain rate.
func (r *runner) backlog(ctx context.Context, n int) (scenario, error) {
	for _, p := range r.st.Notifier {
		if _, err := p.Stop(30 * time.Second); err != nil {
			return scenario{}, err
		}
	}
	nc, err := nats.Connect(r.st.NATS.URL())
	if err != nil {
		return scenario{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return scenario{}, err
	}
	mailsBefore, usersBefore := r.st.SMTP.Count(), len(r.st.Agent.Users())
	exp := time.Now().Add(24 * time.Hour)
	for i := range n {
		uid := uuid.NewString()
		ev := events.Event{ID: uuid.NewString(), Type: events.UserCreated, Version: events.Version, OccurredAt: time.Now().UTC(),
			User:      events.User{UID: uid, Username: fmt.Sprintf("bl%d", i), Email: fmt.Sprintf("bl-%s-%d@load.test", r.run, i)},
			VerifyURL: "http://kairos.test/api/verify/" + verifyToken("bl", int64(i)) + "/", VerifyExpiresAt: &exp}
		data, err := events.Encode(ev)
		if err != nil {
			return scenario{}, err
		}
		if _, err := js.PublishAsync(ev.Subject(), data, jetstream.WithMsgID(ev.ID)); err != nil {
			return scenario{}, err
		}
		// Well under the client's limit of outstanding publishes (4,000):
		// on a busy machine the acks lag and a larger batch stalls.
		if i%1000 == 999 {
			<-js.PublishAsyncComplete()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		return scenario{}, fmt.Errorf("backlog: publishing did not complete")
	}
	start, ownCPU := time.Now(), ownCPUSeconds()
	for _, p := range r.st.Notifier {
		if err := p.Start(); err != nil {
			return scenario{}, err
		}
		p.ResetPeakRSS()
	}
	profiled := r.profileBacklog(ctx)
	defer profiled()
	wctx, cancel := context.WithTimeout(ctx, time.Duration(n/100+60)*time.Second)
	defer cancel()
	var mailDone, agentDone time.Duration
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.st.SMTP.WaitForCount(wctx, mailsBefore+n); err == nil {
			mailDone = time.Since(start)
		}
	})
	wg.Go(func() {
		if _, err := r.st.Agent.WaitForUsers(wctx, usersBefore+n); err == nil {
			agentDone = time.Since(start)
		}
	})
	wg.Wait()
	// CPU per event of the notifier and of this process (JetStream, SMTP
	// sink, fake Agent), which share the cores during the drain.
	notifierCPU := 0.0
	for _, p := range r.st.Notifier {
		notifierCPU += cpuSeconds(p.PID())
	}
	ownCPU = ownCPUSeconds() - ownCPU
	both := max(mailDone, agentDone)
	sc := scenario{Name: fmt.Sprintf("notifier backlog: %d user.created", n), Mode: fmt.Sprintf("%d replica(s), backlog published first", len(r.st.Notifier)),
		Seconds: round(both.Seconds()), Requests: int64(n)}
	if mailDone > 0 && agentDone > 0 {
		sc.Throughput = round(float64(n) / both.Seconds())
	}
	r.rss(&sc)
	sc.note(map[string]any{
		"email_done_s": round(mailDone.Seconds()), "agent_done_s": round(agentDone.Seconds()),
		"mails": r.st.SMTP.Count() - mailsBefore, "agent_users": len(r.st.Agent.Users()) - usersBefore,
		"notifier_cpu_us_per_event": round(notifierCPU / float64(n) * 1e6),
		"loadtest_cpu_us_per_event": round(ownCPU / float64(n) * 1e6),
	})
	return sc, nil
}

// sigterm: both services get SIGTERM under load; each must exit (code 0)
// within its SHUTDOWN_TIMEOUT.
func (r *runner) sigterm(ctx context.Context, timeout time.Duration) scenario {
	lctx, cancel := context.WithCancel(ctx)
	loadDone := make(chan result)
	go func() {
		loadDone <- drive(lctx, shape{Concurrency: 4 * r.cfg.Concurrency, Duration: time.Minute}, func(ctx context.Context, i int64) outcome {
			return expect(is(200))(r.api.login(ctx, fmt.Sprintf("lg%d@load.test", 1+i%int64(r.cfg.LoginAccounts)), seedPassword, ""))
		})
	}()
	time.Sleep(3 * time.Second)
	exits := map[string]any{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, p := range r.st.All() {
		wg.Go(func() {
			_ = p.Signal(syscall.SIGTERM)
			d, err := p.Wait(timeout + 10*time.Second)
			status := "exit 0"
			if err != nil {
				status = err.Error()
			}
			mu.Lock()
			exits[p.Name] = map[string]any{"seconds": round(d.Seconds()), "status": status, "within_timeout": err == nil && d <= timeout}
			mu.Unlock()
		})
	}
	wg.Wait()
	cancel()
	<-loadDone
	return scenario{Name: "SIGTERM under load", Mode: fmt.Sprintf("closed loop logins, %d clients", 4*r.cfg.Concurrency), Extra: exits}
}

// notifierCounts is the notifier's kairos_notifier_messages_total by label
// set, for explaining a shortfall.
func notifierCounts(ctx context.Context, st *stack.Stack) map[string]float64 {
	out := map[string]float64{}
	for _, p := range st.Notifier {
		for k, v := range scrapeAll(ctx, p.AdminURL(), "kairos_notifier_messages_total") {
			out[k] += v
		}
	}
	return out
}

// profile saves a CPU profile of auth-api over a scenario's recorded time
// (after its warm-up) into the output directory, so a gap to a floor comes
// with where the time went: go tool pprof -top bin/auth-api FILE.
func (r *runner) profile(ctx context.Context, name string, s shape) <-chan struct{} {
	done := make(chan struct{})
	if !r.cfg.Profile || s.Duration < 2*time.Second {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		select {
		case <-time.After(s.Warmup):
		case <-ctx.Done():
			return
		}
		secs := int((s.Duration - time.Second).Seconds())
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", r.st.Auth[0].AdminURL(), secs)
		file := filepath.Join(r.cfg.Out, "auth-api-"+slug(name)+".pprof")
		if err := download(ctx, url, file); err != nil {
			fmt.Fprintf(os.Stderr, "loadtest: profile %s: %v\n", name, err)
		}
	}()
	return done
}

func slug(s string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(s)), "-")
}

func download(ctx context.Context, url, file string) error {
	resp, err := fetch(ctx, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
