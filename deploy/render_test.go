// Package deploy_test checks the Helm chart, the images and skaffold.yaml without a cluster or a
// container engine: the chart is rendered with the Helm SDK exactly as `helm install` would, and
// every object is decoded strictly into its Kubernetes API type.
package deploy_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "helm/kairos-auth"
	releaseName = "kairos"
	namespace   = "identity"
	// The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a current one.
	kubeVersion = "v1.30.0"
)

// envFiles are the per-environment values files; "" stands for the chart's defaults alone.
var envFiles = []string{"", "values-dev.yaml", "values-staging.yaml", "values-prod.yaml"}

// object is one rendered Kubernetes object, decoded into its API type.
type object struct {
	Kind, Name string
	Hook       bool   // a Helm hook (migration Job, development Secret, test pod)
	Source     string // template file, for messages
	Typed      any    // *appsv1.Deployment, *corev1.ConfigMap, …
}

// rendered is the output of one `helm install` as the API server would receive it.
type rendered struct {
	Objects []object
	Notes   string
}

func (r rendered) find(kind, name string) (object, bool) {
	for _, o := range r.Objects {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return object{}, false
}

func (r rendered) all(kind string) []object {
	var out []object
	for _, o := range r.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// loadChart reads the chart from disk; extra files (path → content) are added to it, as the
// observability work's dashboards and rules would be.
func loadChart(t *testing.T, extra map[string]string) *chart.Chart {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		chrt.Files = append(chrt.Files, &chart.File{Name: name, Data: []byte(extra[name])})
	}
	return chrt
}

// values merges the values files (relative to the chart) and then the overrides, the way
// `helm install -f a.yaml -f b.yaml --set …` layers them over the chart's values.yaml.
func values(t *testing.T, files []string, overrides ...map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, f := range files {
		if f == "" {
			continue
		}
		v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		out = mergeValues(out, v)
	}
	for _, o := range overrides {
		// Round-trip through YAML so that numbers are float64 as in a values file.
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		v, err := chartutil.ReadValues(b)
		if err != nil {
			t.Fatal(err)
		}
		out = mergeValues(out, v)
	}
	return out
}

// mergeValues deep-merges b over a (maps merge, everything else is replaced), as Helm merges -f files.
func mergeValues(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// renderChart renders like `helm install --dry-run`: schema validation, the chart's kubeVersion
// constraint, templates in strict mode (a missing value is an error), hooks split off, and every
// object decoded strictly into its API type.
func renderChart(chrt *chart.Chart, vals map[string]any) (rendered, error) {
	return renderRelease(chrt, vals, releaseName, namespace)
}

// renderRelease is renderChart for a given release name and namespace.
func renderRelease(chrt *chart.Chart, vals map[string]any, release, ns string) (rendered, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return rendered{}, err
	}
	caps.KubeVersion = *kv
	if !chartutil.IsCompatibleRange(chrt.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return rendered{}, fmt.Errorf("chart requires kubeVersion %s, not %s", chrt.Metadata.KubeVersion, caps.KubeVersion)
	}
	opts := chartutil.ReleaseOptions{Name: release, Namespace: ns, Revision: 1, IsInstall: true, IsUpgrade: false}
	renderVals, err := chartutil.ToRenderValues(chrt, vals, opts, caps)
	if err != nil {
		return rendered{}, err
	}
	files, err := engine.Engine{Strict: true}.Render(chrt, renderVals)
	if err != nil {
		return rendered{}, err
	}
	var out rendered
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			out.Notes = content
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return rendered{}, err
	}
	for _, m := range manifests {
		o, err := decodeStrict(m.Content)
		if err != nil {
			return rendered{}, fmt.Errorf("%s: %w", m.Name, err)
		}
		o.Source = m.Name
		out.Objects = append(out.Objects, o)
	}
	for _, h := range hooks {
		o, err := decodeStrict(h.Manifest)
		if err != nil {
			return rendered{}, fmt.Errorf("%s: %w", h.Path, err)
		}
		o.Source, o.Hook = h.Path, true
		out.Objects = append(out.Objects, o)
	}
	return out, nil
}

// mustRender renders the chart with the given environment file (or none) and overrides.
func mustRender(t *testing.T, envFile string, overrides ...map[string]any) rendered {
	t.Helper()
	r, err := renderChart(loadChart(t, nil), values(t, []string{envFile}, overrides...))
	if err != nil {
		t.Fatalf("render %q: %v", envFile, err)
	}
	return r
}

// apiTypes maps apiVersion/kind to a new value of its Go type: every kind the chart may render.
var apiTypes = map[string]func() any{
	"v1/ConfigMap":                                  func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                                     func() any { return new(corev1.Secret) },
	"v1/Service":                                    func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                             func() any { return new(corev1.ServiceAccount) },
	"v1/Pod":                                        func() any { return new(corev1.Pod) },
	"apps/v1/Deployment":                            func() any { return new(appsv1.Deployment) },
	"batch/v1/Job":                                  func() any { return new(batchv1.Job) },
	"networking.k8s.io/v1/Ingress":                  func() any { return new(networkingv1.Ingress) },
	"networking.k8s.io/v1/NetworkPolicy":            func() any { return new(networkingv1.NetworkPolicy) },
	"autoscaling/v2/HorizontalPodAutoscaler":        func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"policy/v1/PodDisruptionBudget":                 func() any { return new(policyv1.PodDisruptionBudget) },
	"monitoring.coreos.com/v1/ServiceMonitor":       func() any { return new(monitoringv1.ServiceMonitor) },
	"monitoring.coreos.com/v1/PrometheusRule":       func() any { return new(monitoringv1.PrometheusRule) },
	"apps/v1/StatefulSet":                           func() any { return new(appsv1.StatefulSet) },
	"networking.k8s.io/v1/IngressClass":             func() any { return new(networkingv1.IngressClass) },
	"gateway.networking.k8s.io/v1/HTTPRoute":        func() any { return new(gatewayv1.HTTPRoute) },
	"gateway.envoyproxy.io/v1alpha1/SecurityPolicy": func() any { return new(securityPolicy) },
}

// decodeStrict decodes one YAML document into its API type the way the API server's strict field
// validation does: unknown fields, duplicate fields and case-mismatched fields are errors. Names
// and label values must also be valid.
func decodeStrict(doc string) (object, error) {
	j, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return object{}, fmt.Errorf("yaml: %w", err)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &head); err != nil {
		return object{}, err
	}
	newFn := apiTypes[head.APIVersion+"/"+head.Kind]
	if newFn == nil {
		return object{}, fmt.Errorf("%s/%s %q: not a kind this test knows", head.APIVersion, head.Kind, head.Metadata.Name)
	}
	typed := newFn()
	strictErrs, err := kjson.UnmarshalStrict(j, typed)
	if err != nil {
		return object{}, fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, err)
	}
	if len(strictErrs) > 0 {
		return object{}, fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, errors.Join(strictErrs...))
	}
	var problems []string
	problems = append(problems, validation.IsDNS1123Subdomain(head.Metadata.Name)...)
	if len(head.Metadata.Name) > 63 {
		problems = append(problems, "name longer than 63 characters")
	}
	for k, v := range head.Metadata.Labels {
		problems = append(problems, validation.IsQualifiedName(k)...)
		problems = append(problems, validation.IsValidLabelValue(v)...)
	}
	if len(problems) > 0 {
		return object{}, fmt.Errorf("%s %q: %s", head.Kind, head.Metadata.Name, strings.Join(problems, "; "))
	}
	return object{Kind: head.Kind, Name: head.Metadata.Name, Typed: typed}, nil
}

// decodeAll strictly decodes a multi-document YAML file (e.g. the development dependencies).
func decodeAll(t *testing.T, path string) []object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []object
	for _, doc := range releaseutil.SplitManifests(string(b)) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		o, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, o)
	}
	return out
}

// podTemplate is one pod spec of the release, with where it comes from.
type podTemplate struct {
	Owner string // "Deployment/kairos-kairos-auth-auth-api"
	Hook  bool
	Spec  corev1.PodSpec
}

// podTemplates lists every pod the release can create: Deployments, the migration Job, the test pod.
func (r rendered) podTemplates() []podTemplate {
	var out []podTemplate
	for _, o := range r.Objects {
		owner := o.Kind + "/" + o.Name
		switch v := o.Typed.(type) {
		case *appsv1.Deployment:
			out = append(out, podTemplate{owner, o.Hook, v.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			out = append(out, podTemplate{owner, o.Hook, v.Spec.Template.Spec})
		case *batchv1.Job:
			out = append(out, podTemplate{owner, o.Hook, v.Spec.Template.Spec})
		case *corev1.Pod:
			out = append(out, podTemplate{owner, o.Hook, v.Spec})
		}
	}
	return out
}

// deployment returns the Deployment of a component ("auth-api" or "notifier").
func (r rendered) deployment(t *testing.T, component string) *appsv1.Deployment {
	t.Helper()
	for _, o := range r.all("Deployment") {
		d := o.Typed.(*appsv1.Deployment)
		if d.Labels["app.kubernetes.io/component"] == component {
			return d
		}
	}
	t.Fatalf("no Deployment for %s", component)
	return nil
}

// containerEnv lists the variables a container gets: its env entries and the keys of the
// ConfigMaps and Secrets it loads with envFrom (looked up among the rendered objects).
func (r rendered) containerEnv(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			o, ok := r.find("ConfigMap", from.ConfigMapRef.Name)
			if !ok {
				t.Fatalf("container %s: envFrom ConfigMap %s is not rendered", c.Name, from.ConfigMapRef.Name)
			}
			for k, v := range o.Typed.(*corev1.ConfigMap).Data {
				env[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			t.Fatalf("container %s: envFrom a whole Secret hides which variables it sets", c.Name)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "<secret " + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key + ">"
		case e.ValueFrom != nil:
			env[e.Name] = "<valueFrom>"
		default:
			env[e.Name] = e.Value
		}
	}
	return env
}

// readFile reads a file relative to the repository root.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
