package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kairos-platform/identity/tools/internal/stack"
)

// prometheus is a real Prometheus server (Debian's prometheus package, the
// one that ships promtool) scraping the services every second and
// evaluating the rule file, as docs/observability.md sets one up.
type prometheus struct {
	url string
	cmd *exec.Cmd
	log string
}

func startPrometheus(t *testing.T, targets map[string]string) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("the prometheus binary is not installed; install it with: apt-get install -y --no-install-recommends prometheus")
	}
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %q\nscrape_configs:\n", rules)
	for job, addr := range targets {
		cfg += fmt.Sprintf("  - job_name: %q\n    static_configs:\n      - targets: [%q]\n", job, addr)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, err := stack.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p := &prometheus{url: "http://" + addr, log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	p.wait(t, "ready", func() bool {
		resp, err := client.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// wait polls cond for up to a minute.
func (p *prometheus) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("prometheus: %s never happened; its log:\n%s", what, tailLines(string(b), 20))
		}
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func (p *prometheus) api(ctx context.Context, path string, params url.Values) (apiResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path+"?"+params.Encode(), nil)
	if err != nil {
		return apiResponse{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return apiResponse{}, err
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return apiResponse{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// query evaluates expr now and returns how many series it gave.
func (p *prometheus) query(ctx context.Context, expr string) (int, error) {
	r, err := p.api(ctx, "/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	var data struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		return 0, err
	}
	if data.ResultType == "scalar" {
		return 1, nil
	}
	return len(data.Result), nil
}

// dashboardVars stand in for the Grafana variables when a dashboard query is
// sent to Prometheus directly.
var dashboardVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "15s", "${__range}", "10m", "$__range", "10m", `"$job"`, `".+"`)

// checkDashboardsFill evaluates every panel query of the dashboards against
// Prometheus after the flow: none may fail, and each panel must draw
// something unless it only shows what a healthy flow does not produce.
func checkDashboardsFill(ctx context.Context, t *testing.T, p *prometheus) {
	// Panels whose data only a failure produces would go here; there are
	// none: counters are pre-created and ratios fall back to 0, so an
	// operator sees 0, not "No data".
	mayBeEmpty := map[string]bool{}
	for file, d := range loadDashboards(t) {
		for _, pn := range allPanels(d.Panels) {
			for _, tg := range pn.Targets {
				if tg.Expr == "" {
					continue
				}
				expr := dashboardVars.Replace(tg.Expr)
				n, err := p.query(ctx, expr)
				switch {
				case err != nil:
					t.Errorf("%s panel %q (%s): Prometheus rejects the query: %v\n%s", file, pn.Title, tg.RefID, err, expr)
				case n == 0 && !mayBeEmpty[pn.Title]:
					t.Errorf("%s panel %q (%s) draws nothing after the flow:\n%s", file, pn.Title, tg.RefID, expr)
				}
			}
		}
	}
}

// checkRulesHealthy waits until Prometheus evaluated every rule, then
// expects no evaluation error and no alert, pending or firing, on a healthy
// system.
func checkRulesHealthy(ctx context.Context, t *testing.T, p *prometheus) {
	type rule struct {
		Name           string `json:"name"`
		Type           string `json:"type"`
		Health         string `json:"health"`
		LastError      string `json:"lastError"`
		LastEvaluation string `json:"lastEvaluation"`
		Alerts         []struct {
			State  string            `json:"state"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	var rules []rule
	p.wait(t, "every rule evaluated", func() bool {
		r, err := p.api(ctx, "/api/v1/rules", nil)
		if err != nil || r.Status != "success" {
			return false
		}
		var data struct {
			Groups []struct {
				Rules []rule `json:"rules"`
			} `json:"groups"`
		}
		if json.Unmarshal(r.Data, &data) != nil {
			return false
		}
		rules = rules[:0]
		for _, g := range data.Groups {
			rules = append(rules, g.Rules...)
		}
		for _, r := range rules {
			if r.Health == "unknown" || strings.HasPrefix(r.LastEvaluation, "0001-") {
				return false
			}
		}
		return len(rules) > 0
	})
	for _, r := range rules {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
		}
		for _, a := range r.Alerts {
			t.Errorf("alert %s is %s on a healthy system: %v", r.Name, a.State, a.Labels)
		}
	}
}
