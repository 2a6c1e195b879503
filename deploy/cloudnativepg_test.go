package deploy_test

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// TestCloudNativePGExample checks the CloudNativePG example against the chart: its values
// layer over production's and render, DATABASE_URL still comes from the Secret, PostgreSQL
// egress goes only to the Cluster's pods, and the Cluster it names has the read-write Service
// the documented URL uses, synchronous replication and one instance per node.
func TestCloudNativePGExample(t *testing.T) {
	const dir = "deploy/examples/cloudnativepg/"
	var cluster struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct{ Name string }
		Spec       struct {
			Instances  int
			PostgreSQL struct {
				Synchronous struct{ Number int } `json:"synchronous"`
			} `json:"postgresql"`
			Affinity struct {
				TopologyKey         string `json:"topologyKey"`
				PodAntiAffinityType string `json:"podAntiAffinityType"`
			}
		}
	}
	if err := yaml.Unmarshal(readFile(t, dir+"cluster.yaml"), &cluster); err != nil {
		t.Fatal(err)
	}
	if cluster.APIVersion != "postgresql.cnpg.io/v1" || cluster.Kind != "Cluster" {
		t.Fatalf("cluster.yaml is %s %s, want a postgresql.cnpg.io/v1 Cluster", cluster.APIVersion, cluster.Kind)
	}
	if cluster.Spec.Instances < 2 || cluster.Spec.PostgreSQL.Synchronous.Number < 1 {
		t.Errorf("%d instances, %d synchronous: a failover could lose acknowledged commits", cluster.Spec.Instances, cluster.Spec.PostgreSQL.Synchronous.Number)
	}
	if cluster.Spec.Affinity.TopologyKey != "kubernetes.io/hostname" || cluster.Spec.Affinity.PodAntiAffinityType != "required" {
		t.Errorf("instances not kept one per node: %+v", cluster.Spec.Affinity)
	}
	raw := string(readFile(t, dir+"values.yaml"))
	if rw := cluster.Metadata.Name + "-rw."; !strings.Contains(raw, rw) {
		t.Errorf("values.yaml does not name the read-write Service %s… in DATABASE_URL", rw)
	}
	v, err := chartutil.ReadValues([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	r := mustRender(t, "values-prod.yaml", v)
	db := r.containerEnv(t, r.deployment(t, "auth-api").Spec.Template.Spec.Containers[0])["DATABASE_URL"]
	if db != "<secret kairos-auth/DATABASE_URL>" {
		t.Errorf("DATABASE_URL from %s, want the Secret kairos-auth", db)
	}
	found := false
	for _, o := range r.all("NetworkPolicy") {
		for _, rule := range o.Typed.(*networkingv1.NetworkPolicy).Spec.Egress {
			for _, p := range rule.Ports {
				if p.Port == nil || p.Port.IntValue() != 5432 {
					continue
				}
				found = true
				if len(rule.To) != 1 || rule.To[0].PodSelector == nil || rule.To[0].PodSelector.MatchLabels["cnpg.io/cluster"] != cluster.Metadata.Name {
					t.Errorf("%s: PostgreSQL egress to %+v, want the Cluster's pods only", o.Name, rule.To)
				}
			}
		}
	}
	if !found {
		t.Error("no PostgreSQL egress rendered")
	}
}
