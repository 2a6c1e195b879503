{{/*
Names. Kubernetes names are at most 63 characters and the longest suffix the chart appends to the
full name is "-migrations" (11), so the full name is cut at 50.
*/}}
{{- define "kairos.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kairos.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kairos.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "kairos.labels" -}}
helm.sh/chart: {{ include "kairos.chart" . }}
app.kubernetes.io/name: {{ include "kairos.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kairos
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Labels of one component ("auth-api", "notifier", "migrations", "test"). Call with
(dict "ctx" $ "component" "auth-api").
*/}}
{{- define "kairos.componentLabels" -}}
{{ include "kairos.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The immutable selector of one component: never add a label that can change on upgrade. */}}
{{- define "kairos.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kairos.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
The image reference of a component, pinned: digest if given, else the tag, else the chart's
appVersion. Call with (dict "ctx" $ "image" .Values.authApi.image).
*/}}
{{- define "kairos.image" -}}
{{- $repo := .image.repository -}}
{{- with .ctx.Values.image.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}{{ end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (toString (default .ctx.Chart.AppVersion .image.tag)) -}}
{{- end -}}
{{- end -}}

{{/*
An environment value as a string. Values files are parsed as JSON, so a YAML integer arrives as
float64 and would print as 1.048576e+06; whole numbers are printed as integers.
*/}}
{{- define "kairos.envValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq . (floor .) }}{{ int64 . }}{{ else }}{{ . }}{{ end -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/*
The non-secret environment of a component as a ConfigMap's data: its config map (empty values
are left out, so the service's own default applies) and the OTEL_* variables shared by both.
Call with (dict "ctx" $ "config" .Values.authApi.config "extra" (dict "HTTP_ADDR" ":8080")).
*/}}
{{- define "kairos.configData" -}}
{{- $data := dict -}}
{{- range $k, $v := .config -}}
{{- $s := include "kairos.envValue" $v -}}
{{- if ne $s "" }}{{ $_ := set $data $k $s }}{{ end -}}
{{- end -}}
{{- range $k, $v := .ctx.Values.otel.env -}}
{{- $s := include "kairos.envValue" $v -}}
{{- if ne $s "" }}{{ $_ := set $data $k $s }}{{ end -}}
{{- end -}}
{{- range $k, $v := .extra }}{{ $_ := set $data $k $v }}{{ end -}}
{{- toYaml $data -}}
{{- end -}}

{{/* The name of the Secret holding DATABASE_URL, AGENT_SERVICE_TOKEN and the SMTP credentials. */}}
{{- define "kairos.secretName" -}}
{{- if .Values.secrets.create -}}
{{- printf "%s-secrets" (include "kairos.fullname" .) -}}
{{- else -}}
{{- required "secrets.existingSecret is required unless secrets.create is true (development only)" .Values.secrets.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
A checksum of the Secret's content so pods roll when it changes: the values for a Secret the chart
creates; for an existing Secret, its data as the cluster has it at install/upgrade time (empty
under `helm template`), so a rotated Secret rolls the pods on the next `helm upgrade`.
*/}}
{{- define "kairos.secretChecksum" -}}
{{- if .Values.secrets.create -}}
{{- toJson .Values.secrets.values | sha256sum -}}
{{- else -}}
{{- $s := lookup "v1" "Secret" .Release.Namespace (include "kairos.secretName" .) -}}
{{- toJson (dig "data" (dict) ($s | default dict)) | sha256sum -}}
{{- end -}}
{{- end -}}

{{/* env entries for one secret key. Call with (dict "ctx" $ "name" "SMTP_PASSWORD" "optional" true). */}}
{{- define "kairos.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "kairos.secretName" .ctx }}
      key: {{ index .ctx.Values.secrets.keys .name }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* The restricted Pod Security Standard, pod level. */}}
{{- define "kairos.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{/* The restricted Pod Security Standard, container level. */}}
{{- define "kairos.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{/*
Spread a component's pods over zones and nodes unless the values give their own constraints.
Call with (dict "ctx" $ "component" "auth-api" "values" .Values.authApi).
*/}}
{{- define "kairos.topologySpread" -}}
{{- if .values.topologySpreadConstraints -}}
{{- toYaml .values.topologySpreadConstraints -}}
{{- else if .ctx.Values.topologySpread.enabled -}}
{{- $selector := include "kairos.selectorLabels" (dict "ctx" .ctx "component" .component) | fromYaml -}}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: {{ .ctx.Values.topologySpread.zones }}
  labelSelector:
    matchLabels: {{- toYaml $selector | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: {{ .ctx.Values.topologySpread.nodes }}
  {{- with .ctx.Values.topologySpread.minNodes }}
  {{- if ne $.ctx.Values.topologySpread.nodes "DoNotSchedule" }}
  {{- fail "topologySpread.minNodes needs topologySpread.nodes: DoNotSchedule (Kubernetes ignores minDomains otherwise)" }}
  {{- end }}
  minDomains: {{ . }}
  {{- end }}
  labelSelector:
    matchLabels: {{- toYaml $selector | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
{{- end -}}
{{- end -}}

{{/* The port of a host:port address such as SMTP_ADDR. */}}
{{- define "kairos.addrPort" -}}
{{- $parts := splitList ":" (toString .) -}}
{{- last $parts -}}
{{- end -}}

{{/*
The ports NetworkPolicy egress must allow for a list of URLs (NATS_URL, AGENT_BASE_URL): the
explicit port of each, else the scheme's default. Call with (dict "urls" "nats://a:4222,nats://b"
"defaults" (dict "nats" "4222" "tls" "4222" "http" "80" "https" "443")). Prints a JSON list.
*/}}
{{- define "kairos.urlPorts" -}}
{{- $ports := list -}}
{{- range $u := splitList "," (toString .urls) -}}
{{- $u = trim $u -}}
{{- if $u -}}
{{- $p := urlParse $u -}}
{{- $hostParts := splitList ":" $p.host -}}
{{- $port := "" -}}
{{- if gt (len $hostParts) 1 }}{{ $port = last $hostParts }}{{ else }}{{ $port = index $.defaults $p.scheme | default "" }}{{ end -}}
{{- if and $port (not (has (atoi $port) $ports)) }}{{ $ports = append $ports (atoi $port) }}{{ end -}}
{{- end -}}
{{- end -}}
{{- toJson $ports -}}
{{- end -}}

{{/* The ConfigMap data of each service; the listen addresses follow the ports values. */}}
{{- define "kairos.authApi.configData" -}}
{{- $addrs := dict "HTTP_ADDR" (printf ":%d" (int .Values.authApi.ports.http)) "ADMIN_ADDR" (printf ":%d" (int .Values.authApi.ports.admin)) -}}
{{- include "kairos.configData" (dict "ctx" . "config" .Values.authApi.config "extra" $addrs) -}}
{{- end -}}

{{- define "kairos.notifier.configData" -}}
{{- $addrs := dict "ADMIN_ADDR" (printf ":%d" (int .Values.notifier.ports.admin)) -}}
{{- include "kairos.configData" (dict "ctx" . "config" .Values.notifier.config "extra" $addrs) -}}
{{- end -}}

{{/*
What both Deployments' pod specs share: service account without a token, the restricted security
context, grace period, scheduling. Call with (dict "ctx" $ "values" .Values.authApi "component" "auth-api").
*/}}
{{- define "kairos.podSpecCommon" -}}
serviceAccountName: {{ include "kairos.serviceAccountName" .ctx }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext: {{- include "kairos.podSecurityContext" .ctx | nindent 2 }}
terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds }}
{{- with .ctx.Values.image.pullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with include "kairos.topologySpread" (dict "ctx" .ctx "component" .component "values" .values) }}
topologySpreadConstraints: {{- . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Startup, liveness and readiness probes, all on the admin port. Call with .Values.<service>. */}}
{{- define "kairos.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: admin}
  {{- toYaml .probes.startup | nindent 2 }}
livenessProbe:
  httpGet: {path: /healthz, port: admin}
  {{- toYaml .probes.liveness | nindent 2 }}
readinessProbe:
  httpGet: {path: /readyz, port: admin}
  {{- toYaml .probes.readiness | nindent 2 }}
{{- end -}}

{{- define "kairos.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kairos.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The migration container: `auth-api migrate` with the auth-api image, reading only what it needs
(DATABASE_URL from the Secret, log settings as literals: a pre-install hook runs before the
release's ConfigMaps exist).
*/}}
{{- define "kairos.migrateContainer" -}}
- name: migrate
  image: {{ include "kairos.image" (dict "ctx" . "image" .Values.authApi.image) }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: [migrate]
  securityContext: {{- include "kairos.containerSecurityContext" . | nindent 4 }}
  env:
    {{- include "kairos.secretEnv" (dict "ctx" . "name" "DATABASE_URL" "optional" false) | nindent 4 }}
    - name: LOG_LEVEL
      value: {{ .Values.authApi.config.LOG_LEVEL | default "info" | quote }}
    - name: LOG_FORMAT
      value: {{ .Values.authApi.config.LOG_FORMAT | default "json" | quote }}
  resources: {{- toYaml .Values.migrations.resources | nindent 4 }}
{{- end -}}

{{/* A JSON list of port numbers as NetworkPolicyPort objects (TCP), as YAML; "" when empty. */}}
{{- define "kairos.protocolPorts" -}}
{{- $out := list -}}
{{- range (. | fromJsonArray) }}{{ $out = append $out (dict "port" (int .) "protocol" "TCP") }}{{ end -}}
{{- if $out }}{{ toYaml $out }}{{ end -}}
{{- end -}}

{{/*
One NetworkPolicy egress rule. `ports` is a list or the YAML of one (from kairos.protocolPorts);
an empty `to` allows any destination on those ports.
*/}}
{{- define "kairos.egressRule" -}}
{{- $ports := .ports -}}
{{- if kindIs "string" $ports }}{{ $ports = $ports | default "[]" | fromYamlArray }}{{ end -}}
{{- /* No port means no rule: an empty ports list would open every port. */ -}}
{{- if $ports -}}
- {{- with .to }}
  to: {{- toYaml . | nindent 4 }}
  {{- end }}
  ports: {{- toYaml $ports | nindent 4 }}
{{- end -}}
{{- end -}}

{{/* Default ports of the URL schemes the services use. */}}
{{- define "kairos.urlDefaults" -}}
{nats: "4222", tls: "4222", ws: "80", wss: "443", http: "80", https: "443"}
{{- end -}}

{{/*
The NATS egress ports: networkPolicy.egress.nats.ports, else those of the NATS_URL given.
Call with (dict "ctx" $ "urls" .Values.notifier.config.NATS_URL); prints YAML.
*/}}
{{- define "kairos.natsEgressPorts" -}}
{{- $ports := .ctx.Values.networkPolicy.egress.nats.ports -}}
{{- if $ports -}}
{{- toYaml $ports -}}
{{- else -}}
{{- include "kairos.protocolPorts" (include "kairos.urlPorts" (dict "urls" .urls "defaults" (include "kairos.urlDefaults" . | fromYaml))) -}}
{{- end -}}
{{- end -}}
