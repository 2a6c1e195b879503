package deploy_test

import (
	"slices"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// TestWiring: every reference between the rendered objects resolves — Services and
// PodDisruptionBudgets select the Deployments' pods, Service target ports and probe ports are
// container ports, the Ingress and the ServiceMonitors reach existing Service ports, the HPAs
// scale existing Deployments, ServiceAccounts and ConfigMaps exist, and a Secret the chart
// creates has every key the pods read.
func TestWiring(t *testing.T) {
	for _, tc := range policyCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.env, tc.set)
			deployments := map[string]*appsv1.Deployment{}
			for _, o := range r.all("Deployment") {
				deployments[o.Name] = o.Typed.(*appsv1.Deployment)
			}
			podsOf := func(sel map[string]string) []*appsv1.Deployment {
				var out []*appsv1.Deployment
				for _, d := range deployments {
					if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
						out = append(out, d)
					}
				}
				return out
			}
			services := map[string]*corev1.Service{}
			for _, o := range r.all("Service") {
				svc := o.Typed.(*corev1.Service)
				services[svc.Name] = svc
				ds := podsOf(svc.Spec.Selector)
				if len(ds) != 1 {
					t.Errorf("Service %s selects %d Deployments", svc.Name, len(ds))
					continue
				}
				for _, p := range svc.Spec.Ports {
					if containerPort(ds[0].Spec.Template.Spec.Containers[0], p.TargetPort.String()) == 0 {
						t.Errorf("Service %s port %s targets %s, not a port of %s", svc.Name, p.Name, p.TargetPort.String(), ds[0].Name)
					}
				}
			}
			for _, d := range deployments {
				if sel := d.Spec.Selector.MatchLabels; !labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("Deployment %s: selector %v does not match its pods", d.Name, sel)
				}
				spec := d.Spec.Template.Spec
				if _, ok := r.find("ServiceAccount", spec.ServiceAccountName); !ok && spec.ServiceAccountName != "default" {
					t.Errorf("Deployment %s: ServiceAccount %s is not rendered", d.Name, spec.ServiceAccountName)
				}
				for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
					r.containerEnv(t, c) // fails on a missing ConfigMap
					for _, e := range c.Env {
						ref := e.ValueFrom
						if ref == nil || ref.SecretKeyRef == nil {
							continue
						}
						if o, ok := r.find("Secret", ref.SecretKeyRef.Name); ok {
							if _, has := o.Typed.(*corev1.Secret).StringData[ref.SecretKeyRef.Key]; !has && (ref.SecretKeyRef.Optional == nil || !*ref.SecretKeyRef.Optional) {
								t.Errorf("Deployment %s: Secret %s has no key %s", d.Name, o.Name, ref.SecretKeyRef.Key)
							}
						}
					}
				}
			}
			for _, o := range r.all("PodDisruptionBudget") {
				pdb := o.Typed.(*policyv1.PodDisruptionBudget)
				if ds := podsOf(pdb.Spec.Selector.MatchLabels); len(ds) != 1 {
					t.Errorf("PodDisruptionBudget %s selects %d Deployments", pdb.Name, len(ds))
				}
			}
			for _, o := range r.all("HorizontalPodAutoscaler") {
				hpa := o.Typed.(*autoscalingv2.HorizontalPodAutoscaler)
				d, ok := deployments[hpa.Spec.ScaleTargetRef.Name]
				if !ok || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
					t.Errorf("HPA %s scales %s/%s, which is not rendered", hpa.Name, hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name)
				} else if d.Spec.Replicas != nil {
					t.Errorf("Deployment %s sets replicas although HPA %s scales it: every upgrade would reset the scale", d.Name, hpa.Name)
				}
				if *hpa.Spec.MinReplicas > hpa.Spec.MaxReplicas {
					t.Errorf("HPA %s: minReplicas above maxReplicas", hpa.Name)
				}
			}
			for _, o := range r.all("Ingress") {
				for _, rule := range o.Typed.(*networkingv1.Ingress).Spec.Rules {
					for _, p := range rule.HTTP.Paths {
						svc, ok := services[p.Backend.Service.Name]
						if !ok || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == p.Backend.Service.Port.Name }) {
							t.Errorf("Ingress %s: backend %s:%s does not exist", o.Name, p.Backend.Service.Name, p.Backend.Service.Port.Name)
						}
						if p.Path != "/api" || svc.Labels["app.kubernetes.io/component"] != "auth-api" {
							t.Errorf("Ingress %s routes %s to %s, want /api to auth-api", o.Name, p.Path, p.Backend.Service.Name)
						}
					}
				}
			}
			for _, o := range r.all("ServiceMonitor") {
				sm := o.Typed.(*monitoringv1.ServiceMonitor)
				var matched int
				for _, svc := range services {
					if labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
						matched++
						for _, ep := range sm.Spec.Endpoints {
							if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == ep.Port }) {
								t.Errorf("ServiceMonitor %s scrapes port %s, which Service %s lacks", sm.Name, ep.Port, svc.Name)
							}
						}
					}
				}
				if matched != 1 {
					t.Errorf("ServiceMonitor %s selects %d Services", sm.Name, matched)
				}
			}
		})
	}
}
