package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// repoRoot is where the tests find the repository: tools/e2e is two levels down.
const repoRoot = "../.."

var (
	dashboardGlob = filepath.Join(repoRoot, "deploy/helm/kairos-auth/files/dashboards/*.json")
	rulesFile     = filepath.Join(repoRoot, "deploy/helm/kairos-auth/files/rules/kairos-auth.rules.yaml")
)

// query is one PromQL expression and where it comes from, for messages.
type query struct {
	source string
	expr   string
}

// grafanaVars stand in for Grafana's built-in interval variables, which are
// not PromQL; label-matcher variables such as "$job" sit inside strings and
// parse as they are.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "${__range}", "1h")

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows carry their panels
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(dashboardGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards at %s (%v)", dashboardGlob, err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rf
}

// allQueries returns every PromQL expression of the dashboards' panels and
// of the rule file, and the names the rule file records.
func allQueries(t *testing.T) (qs []query, recorded map[string]bool) {
	t.Helper()
	for file, d := range loadDashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					qs = append(qs, query{source: fmt.Sprintf("%s panel %q (%s)", file, p.Title, tg.RefID), expr: grafanaVars.Replace(tg.Expr)})
				}
			}
		}
	}
	recorded = map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if r.Record != "" {
				name = r.Record
				recorded[r.Record] = true
			}
			qs = append(qs, query{source: fmt.Sprintf("rules %s/%s", g.Name, name), expr: r.Expr})
		}
	}
	return qs, recorded
}

// selectors parses expr and returns its vector selectors.
func selectors(expr string) ([]*parser.VectorSelector, error) {
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []*parser.VectorSelector
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out, nil
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == "__name__" {
			return m.Value
		}
	}
	return ""
}

// metricNames parses expr and returns the metric names its selectors use.
func metricNames(expr string) ([]string, error) {
	vss, err := selectors(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, vs := range vss {
		if name := selectorName(vs); name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names, nil
}

// literalAlternatives turns a matcher value such as "a|b" into its literal
// alternatives; ok is false for a pattern that is more than that.
func literalAlternatives(v string) (alts []string, ok bool) {
	for _, a := range strings.Split(v, "|") {
		// "." in user.created is meant literally, escaped or not.
		a = strings.ReplaceAll(a, `\.`, ".")
		if a == "" || strings.ContainsAny(strings.ReplaceAll(a, ".", ""), `*+?()[]{}^$\`) {
			return nil, false
		}
		alts = append(alts, a)
	}
	return alts, true
}

// baseName maps a histogram's _bucket/_sum/_count series to its family name
// when the family is a histogram in known; otherwise the name stays.
func baseName(name string, isHistogram func(string) bool) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && isHistogram(base) {
			return base
		}
	}
	return name
}

// usedMetrics maps every metric family a dashboard or rule uses to the
// places that use it. Recording-rule outputs and Prometheus' own series are
// left out.
func usedMetrics(t *testing.T, isHistogram func(string) bool) map[string][]string {
	t.Helper()
	qs, recorded := allQueries(t)
	used := map[string][]string{}
	for _, q := range qs {
		names, err := metricNames(q.expr)
		if err != nil {
			t.Errorf("%s: PromQL does not parse: %v\n%s", q.source, err, q.expr)
			continue
		}
		for _, n := range names {
			if recorded[n] || synthetic[n] {
				continue
			}
			b := baseName(n, isHistogram)
			used[b] = append(used[b], q.source)
		}
	}
	return used
}

// Every metric the dashboards and rules use is one of the contract, so a
// typo shows up here without running anything.
func TestQueriesUseContractMetrics(t *testing.T) {
	known := contractByName()
	used := usedMetrics(t, func(n string) bool { return known[n].kind == "histogram" })
	var unknown []string
	for name, where := range used {
		if _, ok := known[name]; !ok {
			unknown = append(unknown, fmt.Sprintf("%s (used by %s)", name, strings.Join(where, "; ")))
		}
	}
	sort.Strings(unknown)
	for _, u := range unknown {
		t.Errorf("metric not in the contract: %s", u)
	}
	// Label values the queries match must be values the services emit: a
	// typo such as result="invalid_credential" draws an empty panel and
	// silences an alert.
	qs, _ := allQueries(t)
	for _, q := range qs {
		vss, err := selectors(q.expr)
		if err != nil {
			continue // reported above
		}
		for _, vs := range vss {
			spec, ok := known[baseName(selectorName(vs), func(n string) bool { return known[n].kind == "histogram" })]
			if !ok {
				continue
			}
			for _, m := range vs.LabelMatchers {
				domain := spec.labelValues(m.Name)
				if domain == nil || strings.Contains(m.Value, "$") {
					continue
				}
				var alts []string
				switch m.Type {
				case labels.MatchEqual:
					alts = []string{m.Value}
				case labels.MatchRegexp:
					if alts, ok = literalAlternatives(m.Value); !ok {
						continue
					}
				default:
					continue
				}
				for _, a := range alts {
					if !slices.Contains(domain, a) {
						t.Errorf("%s: %s{%s} matches %q, which is not one of %v", q.source, spec.name, m.Name, a, domain)
					}
				}
			}
		}
	}
	if len(used) < 20 {
		t.Errorf("only %d metric families found in dashboards and rules; the extraction is broken", len(used))
	}
}

// The dashboards import into any Grafana: data source as a variable, every
// panel and query bound to it, a recent schema.
func TestDashboardsImportable(t *testing.T) {
	for file, d := range loadDashboards(t) {
		t.Run(file, func(t *testing.T) {
			if d.UID == "" || d.Title == "" {
				t.Errorf("uid %q, title %q: both must be set", d.UID, d.Title)
			}
			if d.SchemaVersion < 39 {
				t.Errorf("schemaVersion %d, want >= 39", d.SchemaVersion)
			}
			hasDS := false
			for _, v := range d.Templating.List {
				if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
					hasDS = true
				}
			}
			if !hasDS {
				t.Error("no templating variable datasource of type datasource, query prometheus")
			}
			ids := map[int]bool{}
			panels := 0
			for _, p := range allPanels(d.Panels) {
				if ids[p.ID] {
					t.Errorf("panel id %d used twice", p.ID)
				}
				ids[p.ID] = true
				if p.Type == "row" {
					continue
				}
				panels++
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
					t.Errorf("panel %q: datasource %+v, want prometheus ${datasource}", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, tg := range p.Targets {
					if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
						t.Errorf("panel %q query %s: datasource %+v, want ${datasource}", p.Title, tg.RefID, tg.Datasource)
					}
				}
			}
			if panels == 0 {
				t.Error("no panels")
			}
		})
	}
}

var runbookAnchor = regexp.MustCompile(`README\.md#([a-z0-9-]+)$`)

// Every alert carries what the on-call needs: a severity, a summary and a
// description, and a runbook link to a README entry that exists.
func TestAlertsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			m := runbookAnchor.FindStringSubmatch(r.Annotations["runbook_url"])
			if m == nil || m[1] != strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook_url %q, want …/README.md#%s", r.Alert, r.Annotations["runbook_url"], strings.ToLower(r.Alert))
				continue
			}
			if !strings.Contains(string(readme), "\n### "+r.Alert+"\n") {
				t.Errorf("%s: README has no '### %s' runbook entry", r.Alert, r.Alert)
			}
		}
	}
	if alerts < 8 {
		t.Errorf("%d alerts; issue 6 lists at least 8", alerts)
	}
}
