package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// securityPolicy is the part of Envoy Gateway's SecurityPolicy (gateway.envoyproxy.io/v1alpha1)
// the chart renders, with the upstream field names: decoded strictly, a misspelt or misplaced
// field fails as the API server's strict validation would. Envoy Gateway's Go module is a whole
// control plane; this subset keeps the deploy module small.
type securityPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		TargetRefs []struct {
			Group string `json:"group"`
			Kind  string `json:"kind"`
			Name  string `json:"name"`
		} `json:"targetRefs"`
		ExtAuth *struct {
			FailOpen         *bool    `json:"failOpen,omitempty"`
			HeadersToExtAuth []string `json:"headersToExtAuth,omitempty"`
			HTTP             *struct {
				BackendRefs []struct {
					Name      string  `json:"name"`
					Namespace *string `json:"namespace,omitempty"`
					Port      *int32  `json:"port,omitempty"`
				} `json:"backendRefs"`
				Path             string   `json:"path,omitempty"`
				HeadersToBackend []string `json:"headersToBackend,omitempty"`
			} `json:"http,omitempty"`
		} `json:"extAuth,omitempty"`
	} `json:"spec"`
}

var agentRouteBase = map[string]any{
	"secrets": map[string]any{"existingSecret": "kairos-auth"},
	"agentRoute": map[string]any{
		"enabled": true, "host": "agent.example.com", "path": "/api",
		"agent": map[string]any{"serviceName": "kairos-agent", "port": 8000},
	},
}

func agentRoute(kind string, extra map[string]any) map[string]any {
	ar := map[string]any{"kind": kind}
	for k, v := range extra {
		ar[k] = v
	}
	return map[string]any{"agentRoute": ar}
}

// checkURL is the chart's own auth-api Service and its http port in the test release.
func checkURL(r rendered, t *testing.T) (svc string, port int32) {
	t.Helper()
	for _, o := range r.all("Service") {
		if !strings.HasSuffix(o.Name, "-auth-api") {
			continue
		}
		for _, p := range o.Typed.(*corev1.Service).Spec.Ports {
			if p.Name == "http" {
				return o.Name, p.Port
			}
		}
	}
	t.Fatal("no auth-api Service with an http port rendered")
	return "", 0
}

// TestAgentRoute: the optional route for the Agent sends every request through auth-api's check
// and passes the check's X-User-ID on, as an ingress-nginx Ingress or as a Gateway API HTTPRoute
// with an Envoy Gateway SecurityPolicy; off by default.
func TestAgentRoute(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		r := mustRender(t, "", defaultSecret(""))
		for _, o := range r.Objects {
			if strings.HasSuffix(o.Name, "-agent") || o.Kind == "HTTPRoute" || o.Kind == "SecurityPolicy" {
				t.Errorf("%s %s rendered by default", o.Kind, o.Name)
			}
		}
	})

	t.Run("ingress-nginx", func(t *testing.T) {
		r := mustRender(t, "", agentRouteBase, agentRoute("ingress-nginx", map[string]any{
			"ingress": map[string]any{
				"className": "nginx",
				"annotations": map[string]any{
					"cert-manager.io/cluster-issuer": "letsencrypt",
					// An attempt to point the check elsewhere loses to the chart's.
					"nginx.ingress.kubernetes.io/auth-url": "http://elsewhere/",
				},
				"tls": []any{map[string]any{"secretName": "agent-tls", "hosts": []any{"agent.example.com"}}},
			},
		}))
		svc, port := checkURL(r, t)
		ing := agentIngress(t, r)
		a := ing.Annotations
		wantURL := fmt.Sprintf("http://%s.%s.svc.cluster.local:%d/api/auth/check", svc, namespace, port)
		if a["nginx.ingress.kubernetes.io/auth-url"] != wantURL {
			t.Errorf("auth-url %q, want %q", a["nginx.ingress.kubernetes.io/auth-url"], wantURL)
		}
		if got := a["nginx.ingress.kubernetes.io/auth-response-headers"]; got != "X-User-ID,X-User-Email-Verified" {
			t.Errorf("auth-response-headers %q, want X-User-ID,X-User-Email-Verified", got)
		}
		if a["cert-manager.io/cluster-issuer"] != "letsencrypt" {
			t.Error("extra annotations are lost")
		}
		for k := range a {
			if strings.HasSuffix(k, "-snippet") {
				t.Errorf("annotation %s: snippets are refused by ingress-nginx's default configuration", k)
			}
		}
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 {
			t.Errorf("class %v, tls %v", ing.Spec.IngressClassName, ing.Spec.TLS)
		}
		if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "agent.example.com" {
			t.Fatalf("rules %+v", ing.Spec.Rules)
		}
		p := ing.Spec.Rules[0].HTTP.Paths
		if len(p) != 1 || p[0].Path != "/api" || *p[0].PathType != networkingv1.PathTypePrefix ||
			p[0].Backend.Service.Name != "kairos-agent" || p[0].Backend.Service.Port.Number != 8000 {
			t.Errorf("the path does not send /api to kairos-agent:8000: %+v", p)
		}
	})

	t.Run("gateway", func(t *testing.T) {
		r := mustRender(t, "", agentRouteBase, agentRoute("gateway", map[string]any{
			"gateway": map[string]any{"parentRefs": []any{map[string]any{"name": "eg", "namespace": "envoy-gateway-system"}}},
		}))
		if len(r.all("Ingress")) != 0 {
			t.Error("kind gateway also renders an Ingress")
		}
		routes, policies := r.all("HTTPRoute"), r.all("SecurityPolicy")
		if len(routes) != 1 || len(policies) != 1 {
			t.Fatalf("%d HTTPRoutes and %d SecurityPolicies, want one each", len(routes), len(policies))
		}
		hr := routes[0].Typed.(*gatewayv1.HTTPRoute)
		if len(hr.Spec.ParentRefs) != 1 || hr.Spec.ParentRefs[0].Name != "eg" || string(*hr.Spec.ParentRefs[0].Namespace) != "envoy-gateway-system" {
			t.Errorf("parentRefs %+v", hr.Spec.ParentRefs)
		}
		if !slices.Equal(hr.Spec.Hostnames, []gatewayv1.Hostname{"agent.example.com"}) || len(hr.Spec.Rules) != 1 {
			t.Fatalf("hostnames %v, rules %d", hr.Spec.Hostnames, len(hr.Spec.Rules))
		}
		rule := hr.Spec.Rules[0]
		if len(rule.Matches) != 1 || *rule.Matches[0].Path.Type != gatewayv1.PathMatchPathPrefix || *rule.Matches[0].Path.Value != "/api" {
			t.Errorf("matches %+v", rule.Matches)
		}
		if len(rule.BackendRefs) != 1 || rule.BackendRefs[0].Name != "kairos-agent" || *rule.BackendRefs[0].Port != 8000 {
			t.Errorf("backendRefs %+v", rule.BackendRefs)
		}
		// A header filter on the route would run after ext_authz and could drop the check's header.
		if len(rule.Filters) != 0 {
			t.Errorf("route filters %+v", rule.Filters)
		}

		sp := policies[0].Typed.(*securityPolicy)
		if len(sp.Spec.TargetRefs) != 1 || sp.Spec.TargetRefs[0].Kind != "HTTPRoute" || sp.Spec.TargetRefs[0].Name != hr.Name ||
			sp.Spec.TargetRefs[0].Group != "gateway.networking.k8s.io" {
			t.Errorf("the SecurityPolicy does not target the HTTPRoute %s: %+v", hr.Name, sp.Spec.TargetRefs)
		}
		ea := sp.Spec.ExtAuth
		if ea == nil || ea.HTTP == nil {
			t.Fatal("no extAuth.http")
		}
		if ea.FailOpen == nil || *ea.FailOpen {
			t.Error("extAuth must fail closed")
		}
		svc, port := checkURL(r, t)
		if len(ea.HTTP.BackendRefs) != 1 || ea.HTTP.BackendRefs[0].Name != svc || ea.HTTP.BackendRefs[0].Port == nil || *ea.HTTP.BackendRefs[0].Port != port {
			t.Errorf("extAuth.http.backendRefs %+v, want %s:%d", ea.HTTP.BackendRefs, svc, port)
		}
		if ea.HTTP.Path != "/api/auth/check" {
			t.Errorf("extAuth.http.path %q", ea.HTTP.Path)
		}
		if !slices.Contains(ea.HTTP.HeadersToBackend, "X-User-ID") || !slices.Contains(ea.HTTP.HeadersToBackend, "X-User-Email-Verified") {
			t.Errorf("headersToBackend %v", ea.HTTP.HeadersToBackend)
		}
		if !slices.Contains(ea.HeadersToExtAuth, "authorization") {
			t.Errorf("headersToExtAuth %v: the check needs the Authorization header", ea.HeadersToExtAuth)
		}
	})

	t.Run("refused", func(t *testing.T) {
		chrt := loadChart(t, nil)
		for name, c := range map[string]struct {
			set  map[string]any
			want string
		}{
			"unknown kind":           {agentRoute("traefik", nil), "/agentRoute/kind"},
			"gateway without parent": {agentRoute("gateway", nil), "agentRoute.gateway.parentRefs"},
			"path without slash":     {map[string]any{"agentRoute": map[string]any{"path": "api"}}, "/agentRoute/path"},
		} {
			_, err := renderChart(chrt, values(t, nil, agentRouteBase, c.set))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: error %v, want one naming %s", name, err, c.want)
			}
		}
	})
}

func agentIngress(t *testing.T, r rendered) *networkingv1.Ingress {
	t.Helper()
	for _, o := range r.all("Ingress") {
		if strings.HasSuffix(o.Name, "-agent") {
			return o.Typed.(*networkingv1.Ingress)
		}
	}
	t.Fatal("no Ingress for the Agent")
	return nil
}
