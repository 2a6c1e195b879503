package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

// documentedVar is one row of a service's configuration table in README.md.
type documentedVar struct {
	Name, Default string
}

// readmeConfig parses the tables under "## Configuration" → "### auth-api" / "### notifier" of
// README.md, rows `| `NAME` | default | meaning |`: the services' contract of variable names.
func readmeConfig(t *testing.T) map[string][]documentedVar {
	t.Helper()
	out := map[string][]documentedVar{}
	inConfig, service := false, ""
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "README.md")))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inConfig, service = line == "## Configuration", ""
		case inConfig && strings.HasPrefix(line, "### "):
			service = strings.TrimSpace(strings.TrimPrefix(line, "### "))
		case inConfig && service != "" && strings.HasPrefix(line, "| `"):
			cells := strings.Split(line, "|")
			if len(cells) < 4 {
				t.Fatalf("README.md: malformed row %q", line)
			}
			name := strings.Trim(strings.TrimSpace(cells[1]), "`")
			out[service] = append(out[service], documentedVar{name, strings.TrimSpace(cells[2])})
		}
	}
	for _, s := range []string{"auth-api", "notifier"} {
		if len(out[s]) < 5 {
			t.Fatalf("README.md: found %d variables for %s under ## Configuration → ### %s", len(out[s]), s, s)
		}
	}
	return out
}

// natsFileVars come from the Secrets of <service>.nats, mounted as files, not from config.
var natsFileVars = map[string]bool{"NATS_CREDS_FILE": true, "NATS_USER": true, "NATS_PASSWORD_FILE": true,
	"NATS_TLS_CA_FILE": true, "NATS_TLS_CERT_FILE": true, "NATS_TLS_KEY_FILE": true}

// isOTel: the README's `OTEL_*` row stands for the standard OpenTelemetry variables, which the
// chart passes through from otel.env rather than listing.
func isOTel(name string) bool { return strings.HasPrefix(name, "OTEL_") }

// TestEnvContract: the variables the chart sets on each service are exactly those the service
// documents, in both directions, with every optional setting given a value.
func TestEnvContract(t *testing.T) {
	docs := readmeConfig(t)
	// Set every config value, so no variable is left out for being empty.
	everything := map[string]any{
		"secrets": map[string]any{"existingSecret": "kairos-auth"},
		"authApi": map[string]any{"config": map[string]any{
			"VERIFY_REDIRECT_URL": "https://app.example/verified", "HASH_CONCURRENCY": 2,
			"PASSWORD_RESET_URL": "https://app.example/reset",
			"TRUSTED_PROXIES":    "10.0.0.0/8", "CORS_ALLOWED_ORIGINS": "https://app.example",
		}, "adminApi": map[string]any{"enabled": true}},
		"notifier": map[string]any{"config": map[string]any{"AGENT_BASE_URL": "https://agent.example", "NOTIFIER_MAX_ACK_PENDING": 64}},
		"otel":     map[string]any{"env": map[string]any{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317"}},
	}
	nats := map[string]any{"credentialsSecret": "nats-login", "tlsSecret": "nats-tls", "clientCert": true}
	everything["authApi"].(map[string]any)["nats"] = nats
	everything["notifier"].(map[string]any)["nats"] = nats
	r := mustRender(t, "", everything)
	// A .creds file instead of a user and password: the one variable the first render lacks.
	creds := mustRender(t, "", map[string]any{"secrets": everything["secrets"],
		"authApi":  map[string]any{"nats": map[string]any{"credentialsSecret": "nats-creds", "credentialsType": "creds"}},
		"notifier": map[string]any{"nats": map[string]any{"credentialsSecret": "nats-creds", "credentialsType": "creds"}}})
	for _, service := range []string{"auth-api", "notifier"} {
		t.Run(service, func(t *testing.T) {
			env := r.containerEnv(t, r.deployment(t, service).Spec.Template.Spec.Containers[0])
			if v, ok := creds.containerEnv(t, creds.deployment(t, service).Spec.Template.Spec.Containers[0])["NATS_CREDS_FILE"]; ok {
				env["NATS_CREDS_FILE"] = v
			}
			var set, documented []string
			for name := range env {
				if !isOTel(name) {
					set = append(set, name)
				}
			}
			for _, v := range docs[service] {
				if !isOTel(v.Name) {
					documented = append(documented, v.Name)
				}
			}
			for _, name := range documented {
				if _, ok := env[name]; !ok {
					t.Errorf("%s documents %s, but the chart does not set it", service, name)
				}
			}
			for _, name := range set {
				if !slices.Contains(documented, name) {
					t.Errorf("the chart sets %s on %s, which the service does not document", name, service)
				}
			}
			if env["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://otel:4317" {
				t.Errorf("otel.env does not reach %s", service)
			}
		})
	}
}

// TestValuesDefaultsMatchServices: every variable is settable through values, and values.yaml
// carries the service's own default (README.md) for each, so an unconfigured install behaves
// like the service's documentation says. Secrets and listen addresses have their own values.
func TestValuesDefaultsMatchServices(t *testing.T) {
	docs := readmeConfig(t)
	defaults, err := chartutil.ReadValuesFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secretKeys := defaults["secrets"].(map[string]any)["keys"].(map[string]any)
	for service, key := range map[string]string{"auth-api": "authApi", "notifier": "notifier"} {
		t.Run(service, func(t *testing.T) {
			sv := defaults[key].(map[string]any)
			config := sv["config"].(map[string]any)
			ports := sv["ports"].(map[string]any)
			covered := map[string]bool{}
			for _, v := range docs[service] {
				switch {
				case isOTel(v.Name):
					continue
				case slices.Contains(secretVars[service], v.Name):
					if _, ok := secretKeys[v.Name]; !ok {
						t.Errorf("secret %s has no secrets.keys entry", v.Name)
					}
				case v.Name == "DEVICE_COOKIE_KEY_FILE": // the chart mounts its Secret key there
					if _, ok := secretKeys["DEVICE_COOKIE_KEYS"]; !ok {
						t.Error("DEVICE_COOKIE_KEY_FILE: no secrets.keys.DEVICE_COOKIE_KEYS")
					}
				case v.Name == "ADMIN_API_TOKEN_FILE": // with authApi.adminApi.enabled, from secrets.keys.ADMIN_API_TOKENS
					if _, ok := secretKeys["ADMIN_API_TOKENS"]; !ok {
						t.Error("ADMIN_API_TOKEN_FILE: no secrets.keys.ADMIN_API_TOKENS")
					}
				case v.Name == "JWT_SIGNING_KEYS_FILE": // the chart mounts secrets.keys.JWT_SIGNING_KEYS there
					if _, ok := secretKeys["JWT_SIGNING_KEYS"]; !ok {
						t.Error("the signing keys have no secrets.keys.JWT_SIGNING_KEYS entry")
					}
				case v.Name == "ADMIN_API_TOKEN_FILE": // the chart mounts secrets.keys.ADMIN_API_TOKENS there
					if _, ok := secretKeys["ADMIN_API_TOKENS"]; !ok {
						t.Error("the admin API tokens have no secrets.keys.ADMIN_API_TOKENS entry")
					}
				case natsFileVars[v.Name]: // from the Secrets named in <service>.nats
					if _, ok := sv["nats"].(map[string]any)["credentialsSecret"]; !ok {
						t.Errorf("%s: no %s.nats.credentialsSecret in values.yaml", v.Name, key)
					}
				case v.Name == "HTTP_ADDR" || v.Name == "ADMIN_ADDR":
					port := ports[map[string]string{"HTTP_ADDR": "http", "ADMIN_ADDR": "admin"}[v.Name]]
					if got, want := fmt.Sprintf("`:%v`", port), v.Default; got != want {
						t.Errorf("%s: %s.ports gives %s, the service's default is %s", v.Name, key, got, want)
					}
				default:
					got, ok := config[v.Name]
					if !ok {
						t.Errorf("%s: no %s.config.%s in values.yaml", v.Name, key, v.Name)
						break
					}
					covered[v.Name] = true
					if want := documentedDefault(v.Default); fmt.Sprint(got) != want {
						t.Errorf("%s.config.%s = %q in values.yaml; the service's default is %q (README: %s)", key, v.Name, fmt.Sprint(got), want, v.Default)
					}
				}
			}
			for _, name := range slices.Sorted(maps.Keys(config)) {
				if !covered[name] {
					t.Errorf("values.yaml %s.config.%s is not a variable the service documents", key, name)
				}
			}
		})
	}
}

// documentedDefault turns a README default cell into the value values.yaml holds: `x` → x;
// "—", "— (required)" or a description (e.g. "number of CPUs") → "" (unset: the service decides).
func documentedDefault(cell string) string {
	if strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") {
		return strings.Trim(cell, "`")
	}
	return ""
}

// TestEnvValueFormatting: numbers from a values file reach the environment as the service parses
// them — never in exponent form (a values file's integers arrive as float64).
func TestEnvValueFormatting(t *testing.T) {
	r := mustRender(t, "", defaultSecret(""), map[string]any{"authApi": map[string]any{"config": map[string]any{
		"ARGON2_MEMORY_KIB": 1048576, "IP_RATE_LIMIT_RPS": 0.5, "PASSWORD_MIN_LENGTH": "12",
	}}})
	env := r.containerEnv(t, r.deployment(t, "auth-api").Spec.Template.Spec.Containers[0])
	for name, want := range map[string]string{"ARGON2_MEMORY_KIB": "1048576", "IP_RATE_LIMIT_RPS": "0.5", "PASSWORD_MIN_LENGTH": "12", "ARGON2_TIME": "2"} {
		if env[name] != want {
			t.Errorf("%s = %q, want %q", name, env[name], want)
		}
	}
}
