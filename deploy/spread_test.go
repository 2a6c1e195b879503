package deploy_test

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// TestOneReplicaPerNode checks what production promises about nodes: each
// service's pods spread one per node over at least topologySpread.minNodes
// nodes (DoNotSchedule with minDomains, so a short cluster leaves a pod
// Pending rather than doubling up), with at least that many replicas, and a
// PodDisruptionBudget letting a drain take one pod at a time.
func TestOneReplicaPerNode(t *testing.T) {
	cases := []struct {
		name       string
		env        string
		set        map[string]any
		minDomains int32 // 0: no minDomains on the node constraint
		when       corev1.UnsatisfiableConstraintAction
	}{
		{name: "prod", env: "values-prod.yaml", minDomains: 3, when: corev1.DoNotSchedule},
		{name: "defaults prefer", env: "values-staging.yaml", when: corev1.ScheduleAnyway},
		{name: "minNodes from values", env: "values-staging.yaml", minDomains: 5, when: corev1.DoNotSchedule,
			set: map[string]any{"topologySpread": map[string]any{"nodes": "DoNotSchedule", "minNodes": 5}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var overrides []map[string]any
			if tc.set != nil {
				overrides = append(overrides, tc.set)
			}
			r := mustRender(t, tc.env, overrides...)
			minReplicas := map[string]int32{}
			for _, o := range r.all("HorizontalPodAutoscaler") {
				hpa := o.Typed.(*autoscalingv2.HorizontalPodAutoscaler)
				minReplicas[hpa.Spec.ScaleTargetRef.Name] = *hpa.Spec.MinReplicas
			}
			pdbs := map[string]*policyv1.PodDisruptionBudget{}
			for _, o := range r.all("PodDisruptionBudget") {
				pdb := o.Typed.(*policyv1.PodDisruptionBudget)
				pdbs[pdb.Spec.Selector.MatchLabels["app.kubernetes.io/component"]] = pdb
			}
			for _, component := range []string{"auth-api", "notifier"} {
				d := r.deployment(t, component)
				var node *corev1.TopologySpreadConstraint
				for i, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
					if c.TopologyKey == "kubernetes.io/hostname" {
						node = &d.Spec.Template.Spec.TopologySpreadConstraints[i]
					}
				}
				if node == nil {
					t.Fatalf("%s: no spread over nodes", component)
				}
				if node.MaxSkew != 1 || node.WhenUnsatisfiable != tc.when {
					t.Errorf("%s: node spread maxSkew %d %s, want 1 %s", component, node.MaxSkew, node.WhenUnsatisfiable, tc.when)
				}
				got := int32(0)
				if node.MinDomains != nil {
					got = *node.MinDomains
				}
				if got != tc.minDomains {
					t.Errorf("%s: minDomains %d, want %d", component, got, tc.minDomains)
				}
				for k, v := range d.Spec.Template.Labels {
					if node.LabelSelector.MatchLabels[k] != "" && node.LabelSelector.MatchLabels[k] != v {
						t.Errorf("%s: spread selector %s=%s does not match the pods' %s", component, k, node.LabelSelector.MatchLabels[k], v)
					}
				}
				replicas := minReplicas[d.Name]
				if d.Spec.Replicas != nil {
					replicas = *d.Spec.Replicas
				}
				if tc.env == "values-prod.yaml" && replicas < tc.minDomains {
					t.Errorf("%s: %d replicas for %d nodes: a node would have none", component, replicas, tc.minDomains)
				}
				pdb := pdbs[component]
				if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("%s: want a PodDisruptionBudget with maxUnavailable 1, got %+v", component, pdb)
				}
			}
		})
	}
}
