package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestLintStrict is `helm lint --strict` for the chart's defaults and each environment: any
// warning fails.
// Both the oldest supported Kubernetes and the one k8s.io/api targets, so an API deprecated since
// is reported.
func TestLintStrict(t *testing.T) {
	for _, version := range []string{kubeVersion, "v1.37.0"} {
		kv, err := chartutil.ParseKubeVersion(version)
		if err != nil {
			t.Fatal(err)
		}
		for _, env := range envFiles {
			t.Run(version+"/"+name(env), func(t *testing.T) {
				linter := lint.AllWithKubeVersion(chartDir, values(t, []string{env}), namespace, kv)
				for _, msg := range linter.Messages {
					if msg.Severity >= support.WarningSev {
						t.Errorf("lint: %s", msg)
					}
				}
			})
		}
	}
}

// TestRender renders the defaults and each environment and checks what each must contain.
// Rendering itself decodes every object strictly into its Kubernetes type.
func TestRender(t *testing.T) {
	// What each environment installs, by kind and name suffix.
	want := map[string][]string{
		"": {
			"Deployment/auth-api", "Deployment/notifier", "Job/migrations", "ConfigMap/auth-api",
			"ConfigMap/notifier", "Service/auth-api", "Service/notifier", "ServiceAccount/kairos-auth",
			"HorizontalPodAutoscaler/auth-api", "PodDisruptionBudget/auth-api", "PodDisruptionBudget/notifier",
			"NetworkPolicy/auth-api", "NetworkPolicy/notifier", "NetworkPolicy/migrations", "NetworkPolicy/test", "Pod/test",
		},
		"values-dev.yaml": {
			"Deployment/auth-api", "Deployment/notifier", "Job/migrations", "Secret/secrets", "Pod/test",
		},
		"values-staging.yaml": {
			"Deployment/auth-api", "Deployment/notifier", "Job/migrations", "Ingress/kairos-auth",
			"HorizontalPodAutoscaler/auth-api", "NetworkPolicy/auth-api", "ServiceMonitor/auth-api",
			"ServiceMonitor/notifier", "PrometheusRule/kairos-auth",
		},
		"values-prod.yaml": {
			"Deployment/auth-api", "Deployment/notifier", "Job/migrations", "Ingress/kairos-auth",
			"HorizontalPodAutoscaler/auth-api", "PodDisruptionBudget/auth-api", "PodDisruptionBudget/notifier",
			"NetworkPolicy/auth-api", "NetworkPolicy/notifier", "NetworkPolicy/migrations",
			"ServiceMonitor/auth-api", "ServiceMonitor/notifier", "PrometheusRule/kairos-auth", "Pod/test",
		},
	}
	// What an environment must not install.
	wantNot := map[string][]string{
		"":                    {"Secret/secrets", "Ingress/kairos-auth", "ServiceMonitor/auth-api"},
		"values-dev.yaml":     {"NetworkPolicy/auth-api", "HorizontalPodAutoscaler/auth-api", "PodDisruptionBudget/auth-api", "Ingress/kairos-auth"},
		"values-staging.yaml": {"Secret/secrets"},
		"values-prod.yaml":    {"Secret/secrets"},
	}
	for _, env := range envFiles {
		t.Run(name(env), func(t *testing.T) {
			r := mustRender(t, env, defaultSecret(env))
			var got []string
			for _, o := range r.Objects {
				got = append(got, o.Kind+"/"+o.Name)
			}
			has := func(kindSuffix string) bool {
				kind, suffix, _ := strings.Cut(kindSuffix, "/")
				return slices.ContainsFunc(got, func(g string) bool {
					return strings.HasPrefix(g, kind+"/") && strings.HasSuffix(g, suffix)
				})
			}
			for _, w := range want[env] {
				if !has(w) {
					t.Errorf("missing %s; rendered %v", w, got)
				}
			}
			for _, w := range wantNot[env] {
				if has(w) {
					t.Errorf("unexpected %s", w)
				}
			}
			if !strings.Contains(r.Notes, "Reach the API") || !strings.Contains(r.Notes, "helm test") {
				t.Errorf("NOTES.txt does not say how to reach and check the release:\n%s", r.Notes)
			}
		})
	}
}

// defaultSecret gives the chart's defaults (which name no Secret, on purpose) an existing Secret;
// the environment files bring their own.
func defaultSecret(env string) map[string]any {
	if env != "" {
		return nil
	}
	return map[string]any{"secrets": map[string]any{"existingSecret": "kairos-auth"}}
}

func name(env string) string {
	if env == "" {
		return "defaults"
	}
	return strings.TrimSuffix(env, ".yaml")
}
