package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kairos-platform/identity/tools/internal/stack"
)

// The scenarios of the access tokens: the ingress check against the raw
// signature rate of the same key, refresh against pgbench running the
// rotation's statements, and how fast a logout reaches the check of every
// replica.

// writeSigningKey writes a one-key ES256 bundle (PKCS#8) for
// JWT_SIGNING_KEYS_FILE; every replica of a run gets the same file.
func writeSigningKey(dir string) (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "signing-keys.pem")
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

type tokenPair struct {
	UID     string `json:"auth_id"`
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

// loginTokens logs the seeded accounts <prefix>1…n in, conc at a time, and
// returns their tokens (logins are bound by the password hash, so this is
// setup, not measured).
func loginTokens(ctx context.Context, a *api, prefix string, n, conc int) ([]tokenPair, error) {
	out := make([]tokenPair, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n || ctx.Err() != nil {
					return
				}
				var err error
				out[i-1], err = loginFor(ctx, a, fmt.Sprintf("%s%d@load.test", prefix, i))
				if err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, ctx.Err()
}

// loginFor logs a seeded account in, waiting out 503s and 429s: the
// password hash bounds logins, and these are setup, not measured.
func loginFor(ctx context.Context, a *api, email string) (tokenPair, error) {
	for {
		st, _, body, err := a.post(ctx, "/api/login/", map[string]string{"email": email, "password": seedPassword}, "")
		switch {
		case err != nil:
			return tokenPair{}, err
		case st == http.StatusServiceUnavailable || st == http.StatusTooManyRequests:
			select {
			case <-ctx.Done():
				return tokenPair{}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		case st != http.StatusOK:
			return tokenPair{}, fmt.Errorf("login %s on %s: status %d", email, a.base, st)
		}
		var tp tokenPair
		if err := json.Unmarshal(body, &tp); err != nil || tp.Access == "" {
			return tokenPair{}, fmt.Errorf("login %s: no access token in the answer (%v)", email, err)
		}
		return tp, nil
	}
}

// check answers GET /api/auth/check with a bearer token: 200 or 401.
func (a *api) check(ctx context.Context, token string) (int, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/api/auth/check", nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	st, ra, _, err := a.do(req)
	return st, ra, err
}

// checkScenario measures the ingress check with the tokens of many logins,
// after the raw signature rate of the same key on every core. A check
// counts when it is a 200 with the token's own uid (rawclient.go).
func (r *runner) checkScenario(ctx context.Context, rep *report) (scenario, error) {
	n := min(r.cfg.LoginAccounts, 64)
	toks, err := loginTokens(ctx, r.api, "lg", n, runtime.NumCPU())
	if err != nil {
		return scenario{}, err
	}
	rate, alg, err := signatureRate(ctx, r.api.base, toks[0].Access, r.cfg.CeilingTime)
	if err != nil {
		return scenario{}, err
	}
	rep.Ceilings.SignatureVerify = round(rate)
	rep.Ceilings.SignatureAlg = alg
	conc := 4 * r.cfg.Concurrency
	cc, err := newRawClient(r.api.base, conc)
	if err != nil {
		return scenario{}, err
	}
	defer cc.close()
	reqs := make([]checkRequest, n)
	for i, t := range toks {
		reqs[i] = cc.request(t.Access, t.UID)
	}
	sc := r.measure(ctx, "ingress check", r.shape(conc), func(ctx context.Context, i int64) outcome {
		req := reqs[i%int64(n)]
		st, uid, err := cc.check(ctx, req)
		return outcome{status: st, err: err, ok: err == nil && st == http.StatusOK && uid == req.uid}
	})
	return sc, nil
}

// refreshScenario rotates refresh tokens as fast as the clients can, each
// client on its own login (a token is used once; the answer carries the
// next), then measures pgbench on the same statements.
func (r *runner) refreshScenario(ctx context.Context, rep *report, tmp string) (scenario, error) {
	conc := 2 * r.cfg.Concurrency
	toks, err := loginTokens(ctx, r.api, "lg", min(conc, r.cfg.LoginAccounts), runtime.NumCPU())
	if err != nil {
		return scenario{}, err
	}
	pool := make(chan string, len(toks))
	for _, t := range toks {
		pool <- t.Refresh
	}
	cc, err := newRawClient(r.api.base, len(toks))
	if err != nil {
		return scenario{}, err
	}
	defer cc.close()
	want := expect(is(200))
	// pgbench runs the rotation on chains of its own before and after.
	pgbench := func(ctx context.Context, run int) (float64, error) {
		return pgbenchRefreshRate(ctx, r.st.PG.DatabaseURL, refreshPrefixes[run], conc, r.cfg.CeilingTime/2, tmp, r.hash)
	}
	sc := r.measure(ctx, "token refresh", shape{Concurrency: len(toks), Warmup: r.cfg.Warmup, Duration: r.cfg.Duration, Ceiling: pgbench},
		func(ctx context.Context, _ int64) outcome {
			cur := <-pool
			a, err := cc.post(ctx, "/api/token/refresh/", []byte(`{"refresh_token":"`+cur+`"}`), make([]byte, 0, 1024))
			var next tokenPair
			if err == nil && a.status == http.StatusOK && json.Unmarshal(a.body, &next) == nil && next.Refresh != "" {
				cur = next.Refresh
			}
			pool <- cur
			return want(a.status, a.retryAfter, err)
		})
	if sc.ceilingErr != nil {
		return scenario{}, sc.ceilingErr
	}
	rep.Ceilings.PgbenchRefresh = sc.Ceiling
	return sc, nil
}

// logoutsInFlight logouts are watched at once, each by one poller per
// replica: enough to keep a thousand logouts short, few enough that the
// pollers do not starve the replicas they measure of CPU.
const logoutsInFlight = 4

// pollPause spaces one poller's checks: a resolution far below the 1 s
// floor, at a fraction of the CPU of polling back to back.
const pollPause = 2 * time.Millisecond

// logoutScenario runs its own system with three auth-api replicas: a
// background load of checks on all of them, and logouts, each on one
// replica, while every replica is polled with the logged-out token until it
// answers 401. The delay is from sending the logout to each replica's first
// 401.
func (r *runner) logoutScenario(ctx context.Context, authEnv map[string]string) (scenario, error) {
	const replicas = 3
	const bg = 16
	st, apis, err := r.seededSystem(ctx, stack.Options{SkipBuild: true, AuthReplicas: replicas, AuthEnv: authEnv}, "lo", r.cfg.Logouts+bg)
	if err != nil {
		return scenario{}, err
	}
	defer st.Close()
	// Logins round-robin over the replicas: each one hashes its share.
	all, err := loginTokensOn(ctx, apis, "lo", r.cfg.Logouts+bg)
	if err != nil {
		return scenario{}, err
	}
	background, victims := all[:bg], all[bg:]

	// The background load: checks of live tokens on every replica.
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan result, 1)
	go func() {
		loadDone <- drive(loadCtx, shape{Concurrency: 2 * r.cfg.Concurrency, Duration: time.Hour}, func(ctx context.Context, i int64) outcome {
			return expect(is(200))(apis[i%replicas].check(ctx, background[i%int64(bg)].Access))
		})
	}()

	var mu sync.Mutex
	var delays []time.Duration
	perReplica := make([][]time.Duration, replicas)
	var failures atomic.Int64
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range logoutsInFlight {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(victims) || ctx.Err() != nil {
					return
				}
				d, err := logoutAndWatch(ctx, apis, i%replicas, victims[i].Access)
				if err != nil {
					failures.Add(1)
					continue
				}
				mu.Lock()
				for j, v := range d {
					delays = append(delays, v)
					perReplica[j] = append(perReplica[j], v)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopLoad()
	load := <-loadDone

	sc := scenario{
		Name:    fmt.Sprintf("logout → 401 on %d replicas", replicas),
		Mode:    fmt.Sprintf("%d logouts, %d at once, checks under load (%d clients)", len(victims), logoutsInFlight, 2*r.cfg.Concurrency),
		Seconds: round(elapsed.Seconds()), Requests: int64(len(victims)),
		Latency: summarize(delays), Served: summarize(delays),
		Classes: map[string]int64{"ok": int64(len(victims)) - failures.Load(), "failed": failures.Load()},
	}
	if elapsed > 0 {
		sc.Throughput = round(float64(len(victims)-int(failures.Load())) / elapsed.Seconds())
	}
	sc.note(map[string]any{"logouts_failed": failures.Load(), "background_checks": load.Count, "background_checks_classes": load.Classes})
	if load.Elapsed > 0 {
		sc.Extra["background_checks_per_s"] = round(float64(load.OK) / load.Elapsed.Seconds())
		sc.Extra["background_check_p99_ms"] = summarize(load.Latencies).P99
	}
	for j, d := range perReplica {
		sc.Extra[fmt.Sprintf("replica_%d_p99_ms", j)] = summarize(d).P99
	}
	return sc, nil
}

// loginTokensOn logs accounts <prefix>1…n in, spread round-robin over the
// replicas (each hashes its share), two at a time per replica.
func loginTokensOn(ctx context.Context, apis []*api, prefix string, n int) ([]tokenPair, error) {
	out := make([]tokenPair, n)
	var (
		mu      sync.Mutex
		errs    error
		stopped atomic.Bool
	)
	var wg sync.WaitGroup
	for j, a := range apis {
		var next atomic.Int64
		next.Store(int64(j))
		for range 2 {
			wg.Go(func() {
				for {
					i := int(next.Add(int64(len(apis)))) - len(apis) // 0-based account index
					if i >= n || ctx.Err() != nil || stopped.Load() {
						return
					}
					var err error
					out[i], err = loginFor(ctx, a, fmt.Sprintf("%s%d@load.test", prefix, i+1))
					if err != nil {
						mu.Lock()
						errs = errors.Join(errs, err)
						mu.Unlock()
						stopped.Store(true)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if errs != nil {
		return nil, errs
	}
	return out, ctx.Err()
}

// logoutAndWatch confirms the token passes the check on every replica, logs
// it out on replica `on`, and returns, per replica, the time from sending the
// logout to that replica's first 401 (polled every pollPause).
func logoutAndWatch(ctx context.Context, apis []*api, on int, token string) ([]time.Duration, error) {
	for _, a := range apis {
		if st, _, err := a.check(ctx, token); err != nil || st != http.StatusOK {
			return nil, fmt.Errorf("before logout: check %d, %v", st, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out := make([]time.Duration, len(apis))
	errs := make([]error, len(apis))
	start := time.Now()
	var wg sync.WaitGroup
	for j, a := range apis {
		wg.Go(func() {
			for wctx.Err() == nil {
				st, _, err := a.check(wctx, token)
				if err == nil && st == http.StatusUnauthorized {
					out[j] = time.Since(start)
					return
				}
				select {
				case <-wctx.Done():
				case <-time.After(pollPause):
				}
			}
			errs[j] = fmt.Errorf("replica %d still accepts the token 10 s after logout", j)
		})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apis[on].base+"/api/logout/", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	st, _, _, err := apis[on].do(req)
	if err != nil || st != http.StatusNoContent {
		cancel()
		wg.Wait()
		return nil, fmt.Errorf("logout: status %d, %v", st, err)
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
