package deploy_test

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// docs/NATS.md quotes the server configuration the chart example mounts and the tests load:
// the quote must be the file, or the documented permissions drift from the tested ones.
func TestNATSExampleIsWhatDocsQuote(t *testing.T) {
	conf := string(readFile(t, "deploy/examples/nats-accounts.conf"))
	if !strings.Contains(string(readFile(t, "docs/NATS.md")), "```conf\n"+conf+"```") {
		t.Error("docs/NATS.md does not quote deploy/examples/nats-accounts.conf as it is")
	}
	var values map[string]any
	if err := yaml.UnmarshalStrict(readFile(t, "deploy/examples/nats-values.yaml"), &values); err != nil {
		t.Fatalf("deploy/examples/nats-values.yaml: %v", err)
	}
	cluster, _ := values["config"].(map[string]any)["cluster"].(map[string]any)
	if cluster["replicas"] != float64(3) {
		t.Errorf("the NATS example runs %v servers, want 3", cluster["replicas"])
	}
}
