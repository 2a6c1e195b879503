package deploy_test

import (
	"strings"
	"testing"
)

// TestSchemaRejectsBadValues: values.schema.json turns a wrong type, an unknown key or an
// impossible setting into an install error that names the value; the templates refuse the
// combinations a schema cannot express.
func TestSchemaRejectsBadValues(t *testing.T) {
	cases := []struct {
		name string
		set  map[string]any
		want []string // substrings of the error
	}{
		{"unknown top-level key", map[string]any{"replicas": 3}, []string{"additional properties 'replicas' not allowed"}},
		{"unknown nested key", map[string]any{"authApi": map[string]any{"replicaCont": 2}}, []string{"/authApi", "additional properties 'replicaCont' not allowed"}},
		{"unknown env var", map[string]any{"notifier": map[string]any{"config": map[string]any{"SMTP_HOST": "mail"}}}, []string{"/notifier/config", "'SMTP_HOST' not allowed"}},
		{"replicas not a number", map[string]any{"authApi": map[string]any{"replicaCount": "two"}}, []string{"/authApi/replicaCount", "want integer"}},
		{"port out of range", map[string]any{"authApi": map[string]any{"ports": map[string]any{"http": 70000}}}, []string{"/authApi/ports/http", "maximum"}},
		{"bad log level", map[string]any{"authApi": map[string]any{"config": map[string]any{"LOG_LEVEL": "verbose"}}}, []string{"/authApi/config/LOG_LEVEL", "debug", "info"}},
		{"bad duration", map[string]any{"notifier": map[string]any{"config": map[string]any{"SHUTDOWN_TIMEOUT": "20 seconds"}}}, []string{"/notifier/config/SHUTDOWN_TIMEOUT", "does not match pattern"}},
		{"integer setting not a number", map[string]any{"authApi": map[string]any{"config": map[string]any{"PASSWORD_MIN_LENGTH": "eight"}}}, []string{"/authApi/config/PASSWORD_MIN_LENGTH"}},
		{"boolean for an integer setting", map[string]any{"authApi": map[string]any{"config": map[string]any{"ARGON2_TIME": true}}}, []string{"/authApi/config/ARGON2_TIME", "want integer or string"}},
		{"weak argon2 memory", map[string]any{"authApi": map[string]any{"config": map[string]any{"ARGON2_MEMORY_KIB": 4096}}}, []string{"/authApi/config/ARGON2_MEMORY_KIB", "minimum"}},
		{"short passwords", map[string]any{"authApi": map[string]any{"config": map[string]any{"PASSWORD_MIN_LENGTH": 4}}}, []string{"/authApi/config/PASSWORD_MIN_LENGTH", "minimum"}},
		{"bad SMTP_TLS", map[string]any{"notifier": map[string]any{"config": map[string]any{"SMTP_TLS": "ssl"}}}, []string{"/notifier/config/SMTP_TLS", "starttls"}},
		{"SMTP_ADDR without port", map[string]any{"notifier": map[string]any{"config": map[string]any{"SMTP_ADDR": "mail.example"}}}, []string{"/notifier/config/SMTP_ADDR"}},
		{"NATS_URL not a URL", map[string]any{"authApi": map[string]any{"config": map[string]any{"NATS_URL": "nats-host:4222"}}}, []string{"/authApi/config/NATS_URL"}},
		{"image tag latest", map[string]any{"authApi": map[string]any{"image": map[string]any{"tag": "latest"}}}, []string{"/authApi/image/tag"}},
		{"image digest malformed", map[string]any{"notifier": map[string]any{"image": map[string]any{"digest": "sha256:abc"}}}, []string{"/notifier/image/digest"}},
		{"migration mode unknown", map[string]any{"migrations": map[string]any{"mode": "manual"}}, []string{"/migrations/mode", "job", "initContainer"}},
		{"no memory limit", map[string]any{"authApi": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": nil}}}}, []string{"/authApi/resources/limits", "memory"}},
		{"root allowed", map[string]any{"podSecurityContext": map[string]any{"runAsNonRoot": false}}, []string{"/podSecurityContext/runAsNonRoot"}},
		{"writable root filesystem", map[string]any{"containerSecurityContext": map[string]any{"readOnlyRootFilesystem": false}}, []string{"/containerSecurityContext/readOnlyRootFilesystem"}},
		{"privilege escalation", map[string]any{"containerSecurityContext": map[string]any{"allowPrivilegeEscalation": true}}, []string{"/containerSecurityContext/allowPrivilegeEscalation"}},
		{"OTEL map with another variable", map[string]any{"otel": map[string]any{"env": map[string]any{"DATABASE_URL": "x"}}}, []string{"/otel/env", "DATABASE_URL"}},
		{"ingress path without slash", map[string]any{"ingress": map[string]any{"hosts": []any{map[string]any{"host": "a.example", "paths": []any{map[string]any{"path": "api", "pathType": "Prefix"}}}}}}, []string{"/ingress/hosts/0/paths/0/path"}},
		{"network peer typo", map[string]any{"networkPolicy": map[string]any{"egress": map[string]any{"postgresql": map[string]any{"to": []any{map[string]any{"ipblock": map[string]any{"cidr": "10.0.0.0/8"}}}}}}}, []string{"/networkPolicy/egress/postgresql/to/0", "ipblock"}},
		{"hook delete policy typo", map[string]any{"migrations": map[string]any{"job": map[string]any{"hookDeletePolicy": "on-success"}}}, []string{"/migrations/job/hookDeletePolicy"}},
		{"dlq subcommand unknown", map[string]any{"notifier": map[string]any{"dlq": map[string]any{"args": []any{"dlq", "purge"}}}}, []string{"/notifier/dlq/args/1"}},
		{"minNodes while nodes only prefer", map[string]any{"topologySpread": map[string]any{"minNodes": 3}}, []string{"/topologySpread/nodes", "DoNotSchedule"}},
		// Refused by the templates, with the fix in the message.
		{"no Secret at all", map[string]any{"secrets": map[string]any{"existingSecret": ""}}, []string{"secrets.existingSecret is required unless secrets.create is true"}},
		{"development Secret without DATABASE_URL", map[string]any{"secrets": map[string]any{"existingSecret": "", "create": true}}, []string{"secrets.values.DATABASE_URL is required"}},
	}
	chrt := loadChart(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := map[string]any{"secrets": map[string]any{"existingSecret": "kairos-auth"}}
			_, err := renderChart(chrt, values(t, nil, base, tc.set))
			if err == nil {
				t.Fatalf("accepted %v", tc.set)
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}

	// And the good values of each environment pass (TestRender), as do these edge cases.
	good := []map[string]any{
		{"authApi": map[string]any{"config": map[string]any{"PASSWORD_MIN_LENGTH": "10", "HASH_CONCURRENCY": 4}}},
		{"authApi": map[string]any{"image": map[string]any{"digest": "sha256:" + strings.Repeat("a", 64)}}},
		{"notifier": map[string]any{"pdb": map[string]any{"maxUnavailable": "50%"}}},
		{"authApi": map[string]any{"config": map[string]any{"IP_RATE_LIMIT_RPS": 0.5, "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7"}}},
		{"otel": map[string]any{"env": map[string]any{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317", "OTEL_TRACES_SAMPLER_ARG": 0.1}}},
	}
	for _, set := range good {
		base := map[string]any{"secrets": map[string]any{"existingSecret": "kairos-auth"}}
		if _, err := renderChart(chrt, values(t, nil, base, set)); err != nil {
			t.Errorf("rejected good values %v: %v", set, err)
		}
	}
}
