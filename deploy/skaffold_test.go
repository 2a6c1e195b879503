package deploy_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// skaffoldConfig mirrors the part of skaffold's v4beta schema that skaffold.yaml uses, field
// names as in skaffold's own config types. Decoding is strict, so a misspelt or misplaced field
// fails here instead of being ignored. (skaffold's Go module is not served to this build, so its
// schema cannot be loaded; this is the structural check the issue allows.)
type skaffoldConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Build       skaffoldBuild     `json:"build"`
	Deploy      skaffoldDeploy    `json:"deploy"`
	PortForward []skaffoldForward `json:"portForward,omitempty"`
	Profiles    []skaffoldProfile `json:"profiles,omitempty"`
}

type skaffoldBuild struct {
	TagPolicy *struct {
		InputDigest *struct{} `json:"inputDigest,omitempty"`
		GitCommit   *struct {
			Variant string `json:"variant,omitempty"`
		} `json:"gitCommit,omitempty"`
		Sha256 *struct{} `json:"sha256,omitempty"`
	} `json:"tagPolicy,omitempty"`
	Local *struct {
		Push        *bool `json:"push,omitempty"`
		UseBuildkit *bool `json:"useBuildkit,omitempty"`
		Concurrency *int  `json:"concurrency,omitempty"`
	} `json:"local,omitempty"`
	Artifacts []struct {
		Image   string `json:"image"`
		Context string `json:"context,omitempty"`
		Docker  *struct {
			Dockerfile string            `json:"dockerfile,omitempty"`
			BuildArgs  map[string]string `json:"buildArgs,omitempty"`
		} `json:"docker,omitempty"`
	} `json:"artifacts,omitempty"`
}

type skaffoldDeploy struct {
	Helm *struct {
		Releases []struct {
			Name              string            `json:"name"`
			ChartPath         string            `json:"chartPath,omitempty"`
			Namespace         string            `json:"namespace,omitempty"`
			CreateNamespace   *bool             `json:"createNamespace,omitempty"`
			ValuesFiles       []string          `json:"valuesFiles,omitempty"`
			SetValues         map[string]string `json:"setValues,omitempty"`
			SetValueTemplates map[string]string `json:"setValueTemplates,omitempty"`
			Wait              bool              `json:"wait,omitempty"`
		} `json:"releases"`
	} `json:"helm,omitempty"`
}

type skaffoldForward struct {
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	Namespace    string `json:"namespace,omitempty"`
	Port         int    `json:"port"`
	LocalPort    int    `json:"localPort,omitempty"`
}

type skaffoldProfile struct {
	Name       string `json:"name"`
	Activation []struct {
		Command string `json:"command,omitempty"`
		Env     string `json:"env,omitempty"`
	} `json:"activation,omitempty"`
	Build       *skaffoldBuild    `json:"build,omitempty"`
	Deploy      *skaffoldDeploy   `json:"deploy,omitempty"`
	PortForward []skaffoldForward `json:"portForward,omitempty"`
	Patches     []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value,omitempty"`
	} `json:"patches,omitempty"`
}

func decodeSkaffold(j []byte) (skaffoldConfig, error) {
	var cfg skaffoldConfig
	strictErrs, err := kjson.UnmarshalStrict(j, &cfg)
	if err == nil && len(strictErrs) > 0 {
		err = errors.Join(strictErrs...)
	}
	return cfg, err
}

// TestSkaffold checks skaffold.yaml against the chart and the Dockerfiles: both images built from
// the repository root, the chart deployed with deploy.helm and values-dev.yaml, the images'
// template variables pointing at the chart's image values, the API port-forwarded, and profiles
// dev, staging and prod that resolve (patches applied) to a valid config each.
func TestSkaffold(t *testing.T) {
	raw, err := yaml.YAMLToJSONStrict(readFile(t, "skaffold.yaml"))
	if err != nil {
		t.Fatalf("skaffold.yaml: %v", err)
	}
	base, err := decodeSkaffold(raw)
	if err != nil {
		t.Fatalf("skaffold.yaml: %v", err)
	}
	if !regexp.MustCompile(`^skaffold/v4beta[0-9]+$`).MatchString(base.APIVersion) || base.Kind != "Config" {
		t.Errorf("apiVersion %q kind %q, want skaffold/v4beta* Config", base.APIVersion, base.Kind)
	}
	var names []string
	for _, p := range base.Profiles {
		names = append(names, p.Name)
	}
	for _, want := range []string{"dev", "staging", "prod"} {
		if !slices.Contains(names, want) {
			t.Errorf("no profile %q (profiles: %v)", want, names)
		}
	}

	check := func(t *testing.T, cfg skaffoldConfig, wantValues string) {
		images := map[string]string{}
		for _, a := range cfg.Build.Artifacts {
			if a.Docker == nil {
				t.Errorf("artifact %s: not a docker build", a.Image)
				continue
			}
			if a.Context != "." {
				t.Errorf("artifact %s: context %q, want the repository root (the build needs go.work)", a.Image, a.Context)
			}
			if _, err := os.Stat(filepath.Join("..", a.Docker.Dockerfile)); err != nil {
				t.Errorf("artifact %s: %v", a.Image, err)
			}
			images[a.Image] = a.Docker.Dockerfile
		}
		wantImages := map[string]string{"kairos/auth-api": "services/auth-api/Dockerfile", "kairos/notifier": "services/notifier/Dockerfile"}
		for img, df := range wantImages {
			if images[img] != df {
				t.Errorf("image %s built from %q, want %s", img, images[img], df)
			}
		}
		if cfg.Deploy.Helm == nil || len(cfg.Deploy.Helm.Releases) != 1 {
			t.Fatal("want deploy.helm with one release")
		}
		rel := cfg.Deploy.Helm.Releases[0]
		if filepath.Clean(rel.ChartPath) != filepath.Join("deploy", chartDir) {
			t.Errorf("chartPath %q, want deploy/%s", rel.ChartPath, chartDir)
		}
		if len(rel.ValuesFiles) != 1 || filepath.Base(rel.ValuesFiles[0]) != wantValues {
			t.Errorf("valuesFiles %v, want %s", rel.ValuesFiles, wantValues)
		}
		for _, f := range rel.ValuesFiles {
			if _, err := os.Stat(filepath.Join("..", f)); err != nil {
				t.Error(err)
			}
		}
		// Every image reaches the chart: repository and tag (and digest) from skaffold's variables.
		for img := range wantImages {
			v := "_" + regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(img, "_")
			key := map[string]string{"kairos/auth-api": "authApi", "kairos/notifier": "notifier"}[img]
			if got := rel.SetValueTemplates[key+".image.repository"]; got != "{{.IMAGE_REPO"+v+"}}" {
				t.Errorf("%s.image.repository = %q", key, got)
			}
			if got := rel.SetValueTemplates[key+".image.tag"]; got != "{{.IMAGE_TAG"+v+"}}" {
				t.Errorf("%s.image.tag = %q", key, got)
			}
		}
		// The values skaffold sets exist in the chart, and the release renders with them.
		set := map[string]any{}
		for k, v := range rel.SetValues {
			setPath(set, k, v)
		}
		for k, v := range rel.SetValueTemplates {
			if !strings.HasPrefix(v, "{{.IMAGE_") {
				t.Errorf("setValueTemplates %s = %q: not an image variable", k, v)
			}
			fake := map[string]string{"REPO": "localhost:5000/" + k, "TAG": "abc123", "DIGEST": "sha256:" + strings.Repeat("0", 64)}
			for part, val := range fake {
				if strings.HasPrefix(v, "{{.IMAGE_"+part+"_") {
					setPath(set, k, val)
				}
			}
		}
		r, err := renderRelease(loadChart(t, nil), values(t, []string{wantValues}, set), rel.Name, rel.Namespace)
		if err != nil {
			t.Fatalf("the release skaffold deploys does not render: %v", err)
		}
		for _, pf := range cfg.PortForward {
			o, ok := r.find("Service", pf.ResourceName)
			if pf.ResourceType != "service" || !ok {
				if !strings.Contains(pf.ResourceName, "mailpit") {
					t.Errorf("port-forward of %s %s: the release has no such Service", pf.ResourceType, pf.ResourceName)
				}
				continue
			}
			if !slices.ContainsFunc(o.Typed.(*corev1.Service).Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == pf.Port }) {
				t.Errorf("port-forward of %s port %d: the Service has no such port", pf.ResourceName, pf.Port)
			}
		}
	}

	t.Run("base", func(t *testing.T) {
		check(t, base, "values-dev.yaml")
		if len(base.PortForward) == 0 || !strings.HasSuffix(base.PortForward[0].ResourceName, "-auth-api") {
			t.Errorf("the API is not port-forwarded: %+v", base.PortForward)
		}
	})
	for _, p := range base.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			cfg := applyProfile(t, raw, p.Name)
			want := map[string]string{"dev": "values-dev.yaml", "staging": "values-staging.yaml", "prod": "values-prod.yaml"}[p.Name]
			check(t, cfg, want)
		})
	}
}

// applyProfile resolves a profile as skaffold does: its fields overlay the base config (maps
// merge, lists replace), then its JSON patches apply, and each must find its path.
func applyProfile(t *testing.T, raw []byte, name string) skaffoldConfig {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var profile map[string]any
	for _, p := range doc["profiles"].([]any) {
		if p.(map[string]any)["name"] == name {
			profile = p.(map[string]any)
		}
	}
	delete(doc, "profiles")
	for k, v := range profile {
		if k == "name" || k == "activation" || k == "patches" {
			continue
		}
		if vm, ok := v.(map[string]any); ok {
			if dm, ok := doc[k].(map[string]any); ok {
				doc[k] = mergeValues(dm, vm)
				continue
			}
		}
		doc[k] = v
	}
	merged, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if patches, ok := profile["patches"]; ok {
		pj, err := json.Marshal(patches)
		if err != nil {
			t.Fatal(err)
		}
		patch, err := jsonpatch.DecodePatch(pj)
		if err != nil {
			t.Fatalf("profile %s: %v", name, err)
		}
		if merged, err = patch.Apply(merged); err != nil {
			t.Fatalf("profile %s: a patch does not apply: %v", name, err)
		}
	}
	cfg, err := decodeSkaffold(merged)
	if err != nil {
		t.Fatalf("profile %s: %v", name, err)
	}
	return cfg
}

// setPath sets a dotted Helm value path (as --set does) in a nested map.
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}
