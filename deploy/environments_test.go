package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestEnvironments checks what each environment file promises: production and staging run
// several replicas from an existing Secret behind a TLS ingress with NetworkPolicies and
// monitoring; development creates its Secret and runs one of each.
func TestEnvironments(t *testing.T) {
	for _, env := range []string{"values-staging.yaml", "values-prod.yaml"} {
		t.Run(name(env), func(t *testing.T) {
			r := mustRender(t, env)
			if len(r.all("Secret")) != 0 {
				t.Error("renders a Secret: shared environments read an existing one")
			}
			db := r.containerEnv(t, r.deployment(t, "auth-api").Spec.Template.Spec.Containers[0])["DATABASE_URL"]
			if db != "<secret kairos-auth/DATABASE_URL>" {
				t.Errorf("DATABASE_URL from %s, want the existing Secret kairos-auth", db)
			}
			replicas := map[string]int32{}
			for _, o := range r.all("HorizontalPodAutoscaler") {
				hpa := o.Typed.(*autoscalingv2.HorizontalPodAutoscaler)
				replicas[hpa.Spec.ScaleTargetRef.Name] = *hpa.Spec.MinReplicas
			}
			for _, component := range []string{"auth-api", "notifier"} {
				d := r.deployment(t, component)
				n := replicas[d.Name]
				if d.Spec.Replicas != nil {
					n = *d.Spec.Replicas
				}
				if n < 2 {
					t.Errorf("%s: %d replicas", component, n)
				}
			}
			ingresses := r.all("Ingress")
			if len(ingresses) != 1 {
				t.Fatalf("%d Ingresses", len(ingresses))
			}
			ing := ingresses[0].Typed.(*networkingv1.Ingress)
			if len(ing.Spec.TLS) == 0 || ing.Spec.IngressClassName == nil || len(ing.Annotations) == 0 {
				t.Errorf("Ingress without TLS, class or annotations: %+v", ing.Spec)
			}
			for _, tls := range ing.Spec.TLS {
				for _, rule := range ing.Spec.Rules {
					if !slices.Contains(tls.Hosts, rule.Host) {
						t.Errorf("host %s is not covered by TLS %v", rule.Host, tls.Hosts)
					}
				}
			}
			if n := len(r.all("NetworkPolicy")); n < 3 {
				t.Errorf("%d NetworkPolicies", n)
			}
			for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "PodDisruptionBudget"} {
				if len(r.all(kind)) == 0 {
					t.Errorf("no %s", kind)
				}
			}
			authEnv := r.containerEnv(t, r.deployment(t, "auth-api").Spec.Template.Spec.Containers[0])
			if !strings.HasPrefix(authEnv["PUBLIC_URL"], "https://") || authEnv["NATS_STREAM_REPLICAS"] != "3" {
				t.Errorf("PUBLIC_URL %s, NATS_STREAM_REPLICAS %s: want https and 3 stream replicas", authEnv["PUBLIC_URL"], authEnv["NATS_STREAM_REPLICAS"])
			}
			if strings.Contains(authEnv["NATS_URL"], "127.0.0.1") {
				t.Errorf("NATS_URL %s points at the pod itself", authEnv["NATS_URL"])
			}
		})
	}
	t.Run("dev", func(t *testing.T) {
		r := mustRender(t, "values-dev.yaml")
		if len(r.all("Secret")) != 1 || len(r.all("NetworkPolicy")) != 0 || len(r.all("HorizontalPodAutoscaler")) != 0 {
			t.Errorf("dev: %d Secrets, %d NetworkPolicies, %d HPAs; want 1, 0, 0",
				len(r.all("Secret")), len(r.all("NetworkPolicy")), len(r.all("HorizontalPodAutoscaler")))
		}
		for _, component := range []string{"auth-api", "notifier"} {
			if d := r.deployment(t, component); d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				t.Errorf("%s: want 1 replica in development", component)
			}
		}
	})
	t.Run("notifier autoscaling is optional", func(t *testing.T) {
		for _, on := range []bool{false, true} {
			r := mustRender(t, "values-prod.yaml", map[string]any{"notifier": map[string]any{"autoscaling": map[string]any{"enabled": on}}})
			var has bool
			for _, o := range r.all("HorizontalPodAutoscaler") {
				has = has || strings.HasSuffix(o.Name, "-notifier")
			}
			if has != on {
				t.Errorf("notifier.autoscaling.enabled=%v: HPA rendered %v", on, has)
			}
		}
	})
}

// TestHelmTest: the `helm test` pod checks /readyz of both services through their Services.
func TestHelmTest(t *testing.T) {
	r := mustRender(t, "values-prod.yaml")
	var pods []*corev1.Pod
	for _, o := range r.all("Pod") {
		pod := o.Typed.(*corev1.Pod)
		if o.Hook && pod.Annotations["helm.sh/hook"] == "test" {
			pods = append(pods, pod)
		}
	}
	if len(pods) != 1 {
		t.Fatalf("%d helm test pods", len(pods))
	}
	args := strings.Join(slices.Concat(pods[0].Spec.Containers[0].Command, pods[0].Spec.Containers[0].Args), " ")
	for _, component := range []string{"auth-api", "notifier"} {
		svc := r.deployment(t, component).Name // Services are named like their Deployments
		port := containerPort(r.deployment(t, component).Spec.Template.Spec.Containers[0], "admin")
		if want := fmt.Sprintf("http://%s:%d/readyz", svc, port); !strings.Contains(args, want) {
			t.Errorf("the test pod does not check %s: %s", want, args)
		}
		if _, ok := r.find("Service", svc); !ok {
			t.Errorf("no Service %s", svc)
		}
	}
	if !strings.Contains(args, "--fail") {
		t.Errorf("the test pod does not fail on an HTTP error: %s", args)
	}
}
