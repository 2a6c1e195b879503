package deploy_test

import (
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
)

// monitoringOn switches on every monitoring object.
var monitoringOn = map[string]any{
	"secrets": map[string]any{"existingSecret": "kairos-auth"},
	"metrics": map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}},
		"prometheusRule": map[string]any{"enabled": true},
		"dashboards":     map[string]any{"enabled": true, "labels": map[string]any{"grafana_dashboard": "0", "team": "identity"}},
	},
}

// TestMonitoringFiles: dashboards and rule files are loaded from files/ as data, never as
// templates, whatever the observability work puts there, and the chart renders with none.
func TestMonitoringFiles(t *testing.T) {
	// A dashboard and a rule with Go-template-like text, which must arrive untouched.
	const dashboard = `{"title": "Test {{ .Values.x }}", "panels": [{"expr": "sum(rate(x[5m]))"}]}`
	const rules = `groups:
  - name: test-rules
    rules:
      - alert: TestAlert
        expr: up == 0
        annotations:
          summary: "{{ $labels.instance }} is down"
`
	t.Run("with fixtures", func(t *testing.T) {
		chrt := loadChart(t, map[string]string{"files/dashboards/zz_test-fixture.json": dashboard, "files/rules/zz-test-fixture.yaml": rules})
		r, err := renderChart(chrt, values(t, nil, monitoringOn))
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, o := range r.all("ConfigMap") {
			cm := o.Typed.(*corev1.ConfigMap)
			if _, isDashboard := cm.Labels["grafana_dashboard"]; !isDashboard {
				continue
			}
			if cm.Labels["grafana_dashboard"] != "1" || cm.Labels["team"] != "identity" {
				t.Errorf("dashboard ConfigMap %s labels %v, want grafana_dashboard=1 and the extra labels", cm.Name, cm.Labels)
			}
			if got, ok := cm.Data["zz_test-fixture.json"]; ok {
				found = true
				if got != dashboard {
					t.Errorf("dashboard changed on its way into the ConfigMap:\n got %s\nwant %s", got, dashboard)
				}
			}
		}
		if !found {
			t.Error("the fixture dashboard is in no ConfigMap")
		}
		var groups []monitoringv1.RuleGroup
		for _, o := range r.all("PrometheusRule") {
			groups = append(groups, o.Typed.(*monitoringv1.PrometheusRule).Spec.Groups...)
		}
		var rule *monitoringv1.Rule
		for _, g := range groups {
			if g.Name == "test-rules" {
				rule = &g.Rules[0]
			}
		}
		if rule == nil {
			t.Fatalf("the fixture rule group is in no PrometheusRule (groups: %d)", len(groups))
		}
		if rule.Alert != "TestAlert" || rule.Expr.String() != "up == 0" || rule.Annotations["summary"] != "{{ $labels.instance }} is down" {
			t.Errorf("rule changed on its way into the PrometheusRule: %+v", rule)
		}
		for _, o := range r.all("ServiceMonitor") {
			sm := o.Typed.(*monitoringv1.ServiceMonitor)
			if sm.Labels["release"] != "prom" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
				t.Errorf("ServiceMonitor %s: labels %v endpoints %+v", sm.Name, sm.Labels, sm.Spec.Endpoints)
			}
		}
		if n := len(r.all("ServiceMonitor")); n != 2 {
			t.Errorf("%d ServiceMonitors, want one per service", n)
		}
	})
	t.Run("without files", func(t *testing.T) {
		chrt := loadChart(t, nil)
		var kept []*chart.File
		for _, f := range chrt.Files {
			if !strings.HasPrefix(f.Name, "files/") {
				kept = append(kept, f)
			}
		}
		chrt.Files = kept
		r, err := renderChart(chrt, values(t, nil, monitoringOn))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(r.all("PrometheusRule")); n != 0 {
			t.Errorf("%d PrometheusRules without rule files", n)
		}
	})
	t.Run("switched off", func(t *testing.T) {
		r := mustRender(t, "", defaultSecret(""))
		for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
			if n := len(r.all(kind)); n != 0 {
				t.Errorf("%d %s by default", n, kind)
			}
		}
		for _, o := range r.all("ConfigMap") {
			if _, ok := o.Typed.(*corev1.ConfigMap).Labels["grafana_dashboard"]; ok {
				t.Errorf("dashboard %s by default", o.Name)
			}
		}
	})
}

// TestDevDependencies: the development manifests for PostgreSQL, NATS and Mailpit decode
// strictly and offer the Services values-dev.yaml points at.
func TestDevDependencies(t *testing.T) {
	objs := decodeAll(t, "dev/dependencies.yaml")
	for _, want := range []string{"Service/postgresql", "Service/nats", "Service/mailpit", "Deployment/postgresql", "Deployment/nats", "Deployment/mailpit"} {
		kind, name, _ := strings.Cut(want, "/")
		found := false
		for _, o := range objs {
			found = found || (o.Kind == kind && o.Name == name)
		}
		if !found {
			t.Errorf("deploy/dev/dependencies.yaml has no %s", want)
		}
	}
	r := mustRender(t, "values-dev.yaml")
	env := r.containerEnv(t, r.deployment(t, "notifier").Spec.Template.Spec.Containers[0])
	if env["SMTP_ADDR"] != "mailpit:1025" || env["NATS_URL"] != "nats://nats:4222" {
		t.Errorf("values-dev.yaml does not point at the development Services: SMTP_ADDR=%s NATS_URL=%s", env["SMTP_ADDR"], env["NATS_URL"])
	}
}
