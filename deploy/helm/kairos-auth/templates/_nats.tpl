{{/*
NATS login and TLS of one service, from Secrets mounted as files: never in NATS_URL, which sits
in the ConfigMap. Call each with (dict "nats" $v.nats): natsEnv prints EnvVar entries,
natsMounts volumeMounts, natsVolumes volumes.
*/}}
{{- define "kairos.natsEnv" -}}
{{- $n := .nats -}}
{{- if $n.credentialsSecret }}
{{- if eq $n.credentialsType "creds" }}
- name: NATS_CREDS_FILE
  value: /etc/kairos/nats/credentials/creds
{{- else }}
- name: NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ $n.credentialsSecret }}
      key: user
- name: NATS_PASSWORD_FILE
  value: /etc/kairos/nats/credentials/password
{{- end }}
{{- end }}
{{- if $n.tlsSecret }}
- name: NATS_TLS_CA_FILE
  value: /etc/kairos/nats/tls/ca.crt
{{- if $n.clientCert }}
- name: NATS_TLS_CERT_FILE
  value: /etc/kairos/nats/tls/tls.crt
- name: NATS_TLS_KEY_FILE
  value: /etc/kairos/nats/tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{- define "kairos.natsMounts" -}}
{{- if .nats.credentialsSecret }}
- name: nats-credentials
  mountPath: /etc/kairos/nats/credentials
  readOnly: true
{{- end }}
{{- if .nats.tlsSecret }}
- name: nats-tls
  mountPath: /etc/kairos/nats/tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "kairos.natsVolumes" -}}
{{- $n := .nats -}}
{{- if $n.credentialsSecret }}
- name: nats-credentials
  secret:
    secretName: {{ $n.credentialsSecret }}
    defaultMode: 0400
    items:
      - key: {{ eq $n.credentialsType "creds" | ternary "creds" "password" }}
        path: {{ eq $n.credentialsType "creds" | ternary "creds" "password" }}
{{- end }}
{{- if $n.tlsSecret }}
- name: nats-tls
  secret:
    secretName: {{ $n.tlsSecret }}
    defaultMode: 0400
    items:
      - key: ca.crt
        path: ca.crt
      {{- if $n.clientCert }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- end }}
{{- end }}
{{- end -}}
