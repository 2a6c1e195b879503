package deploy_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// migrationModes are the values of migrations.mode.
var migrationModes = []string{"job", "initContainer", "none"}

// podLabels lists the labels of every pod the release can create.
func (r rendered) podLabels() []map[string]string {
	var out []map[string]string
	for _, o := range r.Objects {
		switch v := o.Typed.(type) {
		case *appsv1.Deployment:
			out = append(out, v.Spec.Template.Labels)
		case *batchv1.Job:
			out = append(out, v.Spec.Template.Labels)
		case *corev1.Pod:
			out = append(out, v.Labels)
		}
	}
	return out
}

// A NetworkPolicy that selects no pod of the release is dead weight that reviewers of the
// cluster have to reason about; on a real API server it was found in initContainer mode.
func TestEveryNetworkPolicySelectsAPod(t *testing.T) {
	for _, mode := range migrationModes {
		for _, tests := range []bool{true, false} {
			r := mustRender(t, "values-prod.yaml", map[string]any{
				"migrations": map[string]any{"mode": mode},
				"tests":      map[string]any{"enabled": tests},
			})
			pods := r.podLabels()
			for _, o := range r.all("NetworkPolicy") {
				np := o.Typed.(*networkingv1.NetworkPolicy)
				selected := false
				for _, labels := range pods {
					if matches(np.Spec.PodSelector.MatchLabels, labels) {
						selected = true
					}
				}
				if !selected {
					t.Errorf("mode %s, tests %v: NetworkPolicy %s selects no pod of the release", mode, tests, np.Name)
				}
			}
		}
	}
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// NOTES.txt is printed after `helm install --no-hooks` too, so it must not claim that the
// migration Job ran; it says how to find out instead.
func TestNotesTellMigrationsTruthfully(t *testing.T) {
	for _, mode := range migrationModes {
		r := mustRender(t, "values-prod.yaml", map[string]any{"migrations": map[string]any{"mode": mode}})
		lower := strings.ToLower(r.Notes)
		if strings.Contains(lower, " ran ") || strings.Contains(lower, "(ran") {
			t.Errorf("mode %s: NOTES.txt claims the migration ran:\n%s", mode, r.Notes)
		}
		var want []string
		switch mode {
		case "job":
			want = []string{"--no-hooks", "logs job/kairos-kairos-auth-migrations"}
		case "initContainer":
			want = []string{"logs deploy/kairos-kairos-auth-auth-api -c migrate"}
		case "none":
			want = []string{"auth-api migrate"}
		}
		for _, w := range want {
			if !strings.Contains(r.Notes, w) {
				t.Errorf("mode %s: NOTES.txt lacks %q:\n%s", mode, w, r.Notes)
			}
		}
	}
}

// Helm never deletes hook objects on uninstall. The test pod is deleted when it succeeds and
// replaced before the next run; a failed one is kept so that `helm test --logs` and
// `kubectl logs` can show why (hook-failed would delete it before Helm reads its logs), and the
// notes give the command that removes it.
func TestTestPodCleanup(t *testing.T) {
	r := mustRender(t, "values-prod.yaml")
	var pod *corev1.Pod
	for _, o := range r.all("Pod") {
		pod = o.Typed.(*corev1.Pod)
	}
	if pod == nil {
		t.Fatal("no test pod")
	}
	policy := strings.Split(pod.Annotations["helm.sh/hook-delete-policy"], ",")
	has := func(p string) bool {
		for _, q := range policy {
			if strings.TrimSpace(q) == p {
				return true
			}
		}
		return false
	}
	if !has("before-hook-creation") || !has("hook-succeeded") || has("hook-failed") {
		t.Errorf("test pod delete policy %v: want before-hook-creation,hook-succeeded", policy)
	}
	if want := "delete pod " + pod.Name; !strings.Contains(r.Notes, want) {
		t.Errorf("NOTES.txt does not say how to remove a failed test pod (%q):\n%s", want, r.Notes)
	}
	readme := string(readFile(t, "deploy/"+chartDir+"/README.md"))
	if !strings.Contains(readme, "delete pod "+strings.TrimPrefix(pod.Name, "kairos-")) {
		t.Errorf("the chart README does not say how to remove a failed test pod")
	}
}
