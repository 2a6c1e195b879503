package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// renderCase is one render the pod policies are checked on.
type renderCase struct {
	name string
	env  string         // values file, "" for the chart's defaults
	set  map[string]any // overrides, as with --set
}

// policyCases: the defaults, each environment, and the switches that add or change pods.
func policyCases() []renderCase {
	var cases []renderCase
	for _, env := range envFiles {
		cases = append(cases, renderCase{name(env), env, defaultSecret(env)})
	}
	return append(cases,
		renderCase{"init-container migrations", "values-prod.yaml", map[string]any{"migrations": map[string]any{"mode": "initContainer"}}},
		renderCase{"notifier autoscaled", "values-prod.yaml", map[string]any{"notifier": map[string]any{"autoscaling": map[string]any{"enabled": true}}}},
		renderCase{"dlq job", "values-prod.yaml", map[string]any{"notifier": map[string]any{"dlq": map[string]any{"enabled": true}}}},
	)
}

// TestPodPolicy checks every pod template of every render (Deployments, the migration Job, the
// helm test pod) against the restricted Pod Security Standard and the chart's own rules.
func TestPodPolicy(t *testing.T) {
	for _, tc := range policyCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.env, tc.set)
			pods := r.podTemplates()
			if len(pods) < 3 {
				t.Fatalf("only %d pod templates rendered", len(pods))
			}
			for _, p := range pods {
				for _, problem := range restrictedProblems(p.Spec) {
					t.Errorf("%s: %s", p.Owner, problem)
				}
			}
		})
	}
}

// restrictedProblems lists how a pod spec breaks the restricted Pod Security Standard or the
// chart's rules: resources on every container, pinned images, no service-account token.
func restrictedProblems(spec corev1.PodSpec) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		add("automountServiceAccountToken is not false")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		add("uses a host namespace")
	}
	psc := spec.SecurityContext
	if psc == nil {
		add("no pod securityContext")
		psc = &corev1.PodSecurityContext{}
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		add("pod seccompProfile is not RuntimeDefault")
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		add("pod runs as UID 0")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			add("volume %s is a hostPath", v.Name)
		}
	}
	all := slices.Concat(spec.InitContainers, spec.Containers)
	for _, c := range all {
		sc := c.SecurityContext
		if sc == nil {
			add("container %s: no securityContext", c.Name)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			add("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			add("container %s: privileged", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			add("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		nonRoot := (psc.RunAsNonRoot != nil && *psc.RunAsNonRoot) || (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
		if !nonRoot || (sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot) {
			add("container %s: runAsNonRoot is not true", c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			add("container %s: runs as UID 0", c.Name)
		}
		if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault && sc.SeccompProfile.Type != corev1.SeccompProfileTypeLocalhost {
			add("container %s: seccompProfile %s", c.Name, sc.SeccompProfile.Type)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			add("container %s: capabilities do not drop ALL", c.Name)
		} else if len(sc.Capabilities.Add) > 0 {
			add("container %s: adds capabilities %v", c.Name, sc.Capabilities.Add)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
				add("container %s: no %s request", c.Name, res)
			}
			if q, ok := c.Resources.Limits[res]; !ok || q.IsZero() {
				add("container %s: no %s limit", c.Name, res)
			}
		}
		if !pinned(c.Image) {
			add("container %s: image %q is not pinned to a tag or digest", c.Name, c.Image)
		}
	}
	return out
}

// pinned: the image names a tag other than latest, or a digest.
func pinned(image string) bool {
	if _, digest, ok := strings.Cut(image, "@"); ok {
		return strings.HasPrefix(digest, "sha256:") && len(digest) == len("sha256:")+64
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon <= slash {
		return false
	}
	tag := image[colon+1:]
	return tag != "" && tag != "latest"
}

// TestServicePods checks what the two Deployments need to run well: probes on the admin port, a
// grace period longer than the shutdown timeout plus the preStop pause, the secret variables
// from the Secret, and the config checksum.
func TestServicePods(t *testing.T) {
	for _, tc := range policyCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.env, tc.set)
			for _, component := range []string{"auth-api", "notifier"} {
				d := r.deployment(t, component)
				spec := d.Spec.Template.Spec
				c := spec.Containers[0]
				admin := containerPort(c, "admin")
				if admin == 0 {
					t.Fatalf("%s: no admin port", component)
				}
				env := r.containerEnv(t, c)
				if want := fmt.Sprintf(":%d", admin); env["ADMIN_ADDR"] != want {
					t.Errorf("%s: ADMIN_ADDR = %q, the admin port is %d", component, env["ADMIN_ADDR"], admin)
				}
				for probeName, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
					wantPath := map[string]string{"startup": "/healthz", "liveness": "/healthz", "readiness": "/readyz"}[probeName]
					switch {
					case p == nil || p.HTTPGet == nil:
						t.Errorf("%s: no HTTP %s probe", component, probeName)
					case p.HTTPGet.Path != wantPath:
						t.Errorf("%s: %s probe path %s, want %s", component, probeName, p.HTTPGet.Path, wantPath)
					case p.HTTPGet.Port != intstr.FromString("admin") && p.HTTPGet.Port != intstr.FromInt32(admin):
						t.Errorf("%s: %s probe on port %s, not the admin port", component, probeName, p.HTTPGet.Port.String())
					}
				}
				// SIGTERM comes after the preStop pause; the service then needs up to SHUTDOWN_TIMEOUT.
				shutdown := 20 * time.Second // the services' default
				if s, ok := env["SHUTDOWN_TIMEOUT"]; ok {
					var err error
					if shutdown, err = time.ParseDuration(s); err != nil {
						t.Fatalf("%s: SHUTDOWN_TIMEOUT %q: %v", component, s, err)
					}
				}
				if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
					t.Fatalf("%s: no preStop sleep", component)
				}
				pause := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
				grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
				if grace <= pause+shutdown {
					t.Errorf("%s: terminationGracePeriodSeconds %s is not longer than preStop %s + SHUTDOWN_TIMEOUT %s", component, grace, pause, shutdown)
				}
				if d.Spec.Template.Annotations["checksum/config"] == "" || d.Spec.Template.Annotations["checksum/secret"] == "" {
					t.Errorf("%s: pods carry no config/secret checksum", component)
				}
				for _, secretVar := range secretVars[component] {
					if _, ok := env[secretVar]; !ok {
						t.Errorf("%s: %s is not set", component, secretVar)
					}
					if !strings.HasPrefix(env[secretVar], "<secret ") {
						t.Errorf("%s: %s does not come from a Secret: %q", component, secretVar, env[secretVar])
					}
				}
				if len(spec.TopologySpreadConstraints) == 0 && !strings.Contains(tc.env, "dev") {
					t.Errorf("%s: pods are not spread over nodes and zones", component)
				}
			}
		})
	}
}

// secretVars are the variables of each service that only ever come from a Secret.
var secretVars = map[string][]string{
	"auth-api":   {"DATABASE_URL"},
	"notifier":   {"AGENT_SERVICE_TOKEN", "SMTP_USERNAME", "SMTP_PASSWORD"},
	"migrations": {"DATABASE_URL"},
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// TestMigrations checks both ways of running `auth-api migrate`: the hook Job (before the release's
// objects, so it reads an existing Secret) and the init container; both with the auth-api image.
func TestMigrations(t *testing.T) {
	t.Run("job", func(t *testing.T) {
		for _, env := range envFiles {
			r := mustRender(t, env, defaultSecret(env))
			authImage := r.deployment(t, "auth-api").Spec.Template.Spec.Containers[0].Image
			var jobs []*batchv1.Job
			for _, o := range r.all("Job") {
				if !o.Hook {
					t.Errorf("%s: Job %s is not a hook", name(env), o.Name)
				}
				jobs = append(jobs, o.Typed.(*batchv1.Job))
			}
			if len(jobs) != 1 {
				t.Fatalf("%s: %d migration Jobs", name(env), len(jobs))
			}
			job := jobs[0]
			if got := job.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
				t.Errorf("%s: helm.sh/hook = %q", name(env), got)
			}
			if job.Annotations["helm.sh/hook-delete-policy"] == "" {
				t.Errorf("%s: no hook-delete-policy", name(env))
			}
			if job.Spec.BackoffLimit == nil || job.Spec.TTLSecondsAfterFinished == nil || job.Spec.ActiveDeadlineSeconds == nil {
				t.Errorf("%s: backoffLimit, ttlSecondsAfterFinished and activeDeadlineSeconds must be set", name(env))
			}
			c := job.Spec.Template.Spec.Containers[0]
			if c.Image != authImage {
				t.Errorf("%s: migration image %s, auth-api image %s", name(env), c.Image, authImage)
			}
			if !slices.Equal(c.Args, []string{"migrate"}) || len(c.Command) != 0 {
				t.Errorf("%s: migration runs %v %v, want the entrypoint with [migrate]", name(env), c.Command, c.Args)
			}
			checkMigrateEnv(t, r, c, true)
			if job.Spec.Template.Spec.ServiceAccountName != "" {
				if o, ok := r.find("ServiceAccount", job.Spec.Template.Spec.ServiceAccountName); ok && !o.Hook {
					t.Errorf("%s: the Job uses ServiceAccount %s, which the release creates only after pre-install hooks", name(env), o.Name)
				}
			}
		}
	})
	t.Run("initContainer", func(t *testing.T) {
		r := mustRender(t, "values-prod.yaml", map[string]any{"migrations": map[string]any{"mode": "initContainer"}})
		if jobs := r.all("Job"); len(jobs) != 0 {
			t.Errorf("a Job besides the init container: %v", jobs)
		}
		spec := r.deployment(t, "auth-api").Spec.Template.Spec
		if len(spec.InitContainers) != 1 {
			t.Fatalf("%d init containers", len(spec.InitContainers))
		}
		ic := spec.InitContainers[0]
		if ic.Image != spec.Containers[0].Image || !slices.Equal(ic.Args, []string{"migrate"}) {
			t.Errorf("init container runs %s %v", ic.Image, ic.Args)
		}
		checkMigrateEnv(t, r, ic, false)
	})
	t.Run("dlq", func(t *testing.T) {
		// The one-off `notifier dlq` Job: the notifier's image and settings, NATS-only egress.
		r := mustRender(t, "values-prod.yaml", map[string]any{"notifier": map[string]any{"dlq": map[string]any{"enabled": true, "args": []any{"dlq", "replay", "--all"}}}})
		notifier := r.deployment(t, "notifier").Spec.Template.Spec.Containers[0]
		var job *batchv1.Job
		for _, o := range r.all("Job") {
			if j := o.Typed.(*batchv1.Job); j.Labels["app.kubernetes.io/component"] == "notifier-dlq" {
				job = j
			}
		}
		if job == nil {
			t.Fatal("no dlq Job")
		}
		c := job.Spec.Template.Spec.Containers[0]
		if c.Image != notifier.Image || !slices.Equal(c.Args, []string{"dlq", "replay", "--all"}) {
			t.Errorf("dlq Job runs %s %v", c.Image, c.Args)
		}
		env := r.containerEnv(t, c)
		for _, name := range []string{"NATS_URL", "NATS_STREAM_REPLICAS", "LOG_LEVEL", "LOG_FORMAT"} {
			if env[name] != r.containerEnv(t, notifier)[name] {
				t.Errorf("dlq Job %s = %q, the notifier's is %q", name, env[name], r.containerEnv(t, notifier)[name])
			}
		}
		if _, ok := r.find("NetworkPolicy", strings.TrimSuffix(job.Name, job.Name[strings.LastIndex(job.Name, "-"):])); !ok {
			t.Errorf("no NetworkPolicy for the dlq Job %s", job.Name)
		}
	})
	t.Run("none", func(t *testing.T) {
		r := mustRender(t, "values-prod.yaml", map[string]any{"migrations": map[string]any{"mode": "none"}})
		if len(r.all("Job")) != 0 || len(r.deployment(t, "auth-api").Spec.Template.Spec.InitContainers) != 0 {
			t.Error("migrations run although mode is none")
		}
	})
	t.Run("development Secret precedes the Job", func(t *testing.T) {
		r := mustRender(t, "values-dev.yaml")
		var secretWeight, jobWeight string
		for _, o := range r.Objects {
			switch v := o.Typed.(type) {
			case *corev1.Secret:
				if !o.Hook || !strings.Contains(v.Annotations["helm.sh/hook"], "pre-install") {
					t.Errorf("development Secret %s is not a pre-install hook: the Job would run before it exists", v.Name)
				}
				secretWeight = v.Annotations["helm.sh/hook-weight"]
			case *batchv1.Job:
				jobWeight = v.Annotations["helm.sh/hook-weight"]
			}
		}
		if atoi(t, secretWeight) >= atoi(t, jobWeight) {
			t.Errorf("Secret hook weight %s is not below the Job's %s", secretWeight, jobWeight)
		}
	})
}

// checkMigrateEnv: the migration reads DATABASE_URL from the Secret and, in a hook, nothing from
// the release's ConfigMaps (they do not exist yet during pre-install).
func checkMigrateEnv(t *testing.T, r rendered, c corev1.Container, hook bool) {
	t.Helper()
	if hook && len(c.EnvFrom) > 0 {
		t.Errorf("migration hook uses envFrom %v: ordinary objects do not exist yet during pre-install", c.EnvFrom)
	}
	env := r.containerEnv(t, c)
	if !strings.HasPrefix(env["DATABASE_URL"], "<secret ") {
		t.Errorf("migration DATABASE_URL = %q, want a secretKeyRef", env["DATABASE_URL"])
	}
	for name := range env {
		if !slices.Contains([]string{"DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT"}, name) {
			t.Errorf("migration gets %s; `auth-api migrate` reads only DATABASE_URL, LOG_LEVEL, LOG_FORMAT", name)
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// TestNoSecretInConfigMaps renders with a Secret from values and checks that no secret value and
// no secret variable appears in any ConfigMap, annotation or the notes.
func TestNoSecretInConfigMaps(t *testing.T) {
	secrets := map[string]any{
		"DATABASE_URL":        "postgres://kairos:db-sentinel-3f9a@db:5432/kairos",
		"AGENT_SERVICE_TOKEN": "agent-sentinel-77c1",
		"JWT_SIGNING_KEYS":    fakePEM("PRIVATE KEY", "key-sentinel-5d1e"),
		"SMTP_USERNAME":       "smtp-user-sentinel-1b2c",
		"SMTP_PASSWORD":       "smtp-sentinel-a8e2",
	}
	for _, env := range envFiles {
		t.Run(name(env), func(t *testing.T) {
			r := mustRender(t, env, map[string]any{"secrets": map[string]any{"create": true, "existingSecret": "", "values": secrets}})
			for _, o := range r.Objects {
				if o.Kind == "Secret" {
					continue
				}
				text := fmt.Sprintf("%+v", o.Typed)
				for k, v := range secrets {
					if strings.Contains(text, v.(string)) {
						t.Errorf("%s %s contains the value of %s", o.Kind, o.Name, k)
					}
				}
				if cm, ok := o.Typed.(*corev1.ConfigMap); ok {
					for k := range secrets {
						if _, ok := cm.Data[k]; ok {
							t.Errorf("ConfigMap %s has key %s", cm.Name, k)
						}
					}
				}
			}
			for k, v := range secrets {
				if strings.Contains(r.Notes, v.(string)) {
					t.Errorf("NOTES.txt contains the value of %s", k)
				}
			}
		})
	}
}

// TestChecksumsRollPods: a changed setting or Secret changes the pod template, so pods roll.
func TestChecksumsRollPods(t *testing.T) {
	base := mustRender(t, "values-dev.yaml")
	changedConfig := mustRender(t, "values-dev.yaml", map[string]any{"authApi": map[string]any{"config": map[string]any{"LOGIN_MAX_FAILURES": 7}}})
	changedSecret := mustRender(t, "values-dev.yaml", map[string]any{"secrets": map[string]any{"values": map[string]any{"DATABASE_URL": "postgres://other@db/kairos"}}})
	ann := func(r rendered, key string) string {
		return r.deployment(t, "auth-api").Spec.Template.Annotations[key]
	}
	if ann(base, "checksum/config") == ann(changedConfig, "checksum/config") {
		t.Error("a config change leaves the auth-api pod template unchanged")
	}
	if ann(base, "checksum/secret") == ann(changedSecret, "checksum/secret") {
		t.Error("a secret change leaves the auth-api pod template unchanged")
	}
}

// TestNetworkPolicy checks the policies of the production values: default deny for every pod of
// the release, the public port only from the ingress controller, the admin ports only from
// monitoring (and the helm test), and egress only to DNS, PostgreSQL, NATS, SMTP and the Agent.
func TestNetworkPolicy(t *testing.T) {
	r := mustRender(t, "values-prod.yaml", map[string]any{"notifier": map[string]any{"dlq": map[string]any{"enabled": true}}})
	policies := map[string]*networkingv1.NetworkPolicy{}
	for _, o := range r.all("NetworkPolicy") {
		np := o.Typed.(*networkingv1.NetworkPolicy)
		policies[np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"]] = np
	}
	// Every pod of the release is selected by a policy with both directions.
	for _, p := range r.podTemplates() {
		var labels map[string]string
		for _, o := range r.Objects {
			if o.Kind+"/"+o.Name != p.Owner {
				continue
			}
			switch v := o.Typed.(type) {
			case *appsv1.Deployment:
				labels = v.Spec.Template.Labels
			case *batchv1.Job:
				labels = v.Spec.Template.Labels
			case *corev1.Pod:
				labels = v.Labels
			}
		}
		np, ok := policies[labels["app.kubernetes.io/component"]]
		if !ok {
			t.Errorf("%s: no NetworkPolicy selects its pods", p.Owner)
			continue
		}
		for k, v := range np.Spec.PodSelector.MatchLabels {
			if labels[k] != v {
				t.Errorf("%s: NetworkPolicy %s does not select its pods (%s=%s)", p.Owner, np.Name, k, v)
			}
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Errorf("%s: policy types %v", np.Name, np.Spec.PolicyTypes)
		}
	}

	type ingress struct{ port, from string }
	ingressOf := func(np *networkingv1.NetworkPolicy) []ingress {
		var out []ingress
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 || len(rule.Ports) == 0 {
				t.Errorf("%s: an ingress rule open to every source or port", np.Name)
			}
			for _, port := range rule.Ports {
				for _, from := range rule.From {
					src := "pods of the release"
					if from.NamespaceSelector != nil {
						src = from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
					}
					if from.IPBlock != nil {
						src = from.IPBlock.CIDR
					}
					out = append(out, ingress{port.Port.String(), src})
				}
			}
		}
		return out
	}
	wantIngress := map[string][]ingress{
		"auth-api":     {{"http", "ingress-nginx"}, {"admin", "monitoring"}, {"admin", "pods of the release"}},
		"notifier":     {{"admin", "monitoring"}, {"admin", "pods of the release"}},
		"migrations":   nil,
		"test":         nil,
		"notifier-dlq": nil,
	}
	for component, want := range wantIngress {
		if got := ingressOf(policies[component]); !slices.Equal(got, want) {
			t.Errorf("%s ingress: got %v, want %v", component, got, want)
		}
	}
	// The admin API's callers: the operators' namespaces reach the admin port, nothing else.
	ops := mustRender(t, "values-prod.yaml", map[string]any{"networkPolicy": map[string]any{"operatorNamespaces": []any{"kairos-operators"}}})
	for _, o := range ops.all("NetworkPolicy") {
		if np := o.Typed.(*networkingv1.NetworkPolicy); np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] == "auth-api" {
			want := append(slices.Clone(wantIngress["auth-api"]), ingress{"admin", "kairos-operators"})
			if got := ingressOf(np); !slices.Equal(got, want) {
				t.Errorf("auth-api ingress with an operator namespace: got %v, want %v", got, want)
			}
		}
	}

	portsOf := func(np *networkingv1.NetworkPolicy) []string {
		var out []string
		for _, rule := range np.Spec.Egress {
			if len(rule.Ports) == 0 {
				t.Errorf("%s: an egress rule open on every port", np.Name)
			}
			for _, p := range rule.Ports {
				out = append(out, fmt.Sprintf("%s/%s", p.Port.String(), *p.Protocol))
			}
		}
		return out
	}
	dns := []string{"53/UDP", "53/TCP"}
	wantEgress := map[string][]string{
		"auth-api":     slices.Concat(dns, []string{"5432/TCP", "4222/TCP"}),           // PostgreSQL, NATS
		"notifier":     slices.Concat(dns, []string{"4222/TCP", "587/TCP", "443/TCP"}), // NATS, SMTP_ADDR, AGENT_BASE_URL
		"migrations":   slices.Concat(dns, []string{"5432/TCP"}),                       // PostgreSQL only
		"test":         slices.Concat(dns, []string{"9090/TCP", "9091/TCP"}),           // the admin ports
		"notifier-dlq": slices.Concat(dns, []string{"4222/TCP"}),                       // NATS only
	}
	for component, want := range wantEgress {
		if got := portsOf(policies[component]); !slices.Equal(got, want) {
			t.Errorf("%s egress ports: got %v, want %v", component, got, want)
		}
	}

	// Without the Agent sync, no egress to it.
	r = mustRender(t, "values-prod.yaml", map[string]any{"notifier": map[string]any{"config": map[string]any{"AGENT_BASE_URL": "", "SMTP_ADDR": "mail:2525"}}})
	for _, o := range r.all("NetworkPolicy") {
		np := o.Typed.(*networkingv1.NetworkPolicy)
		if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] == "notifier" {
			if got, want := portsOf(np), slices.Concat(dns, []string{"4222/TCP", "2525/TCP"}); !slices.Equal(got, want) {
				t.Errorf("notifier egress without the Agent: got %v, want %v", got, want)
			}
		}
	}
}

// fakePEM is a PEM-shaped string around a sentinel, not a key (spelled out
// in pieces so that scans for committed keys do not mistake it for one).
func fakePEM(typ, body string) string {
	return "-----BEGIN " + typ + "-----\n" + body + "\n-----END " + typ + "-----\n"
}
