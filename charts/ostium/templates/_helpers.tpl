{{/*
Names, labels and the pieces of the node configuration that several templates share.
*/}}

{{- define "ostium.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ostium.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ostium.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ostium.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: core, edge or redis. */}}
{{- define "ostium.selector" -}}
app.kubernetes.io/name: {{ include "ostium.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ostium.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "ostium.core" -}}{{ include "ostium.fullname" . }}-core{{- end -}}
{{- define "ostium.headless" -}}{{ include "ostium.fullname" . }}-raft{{- end -}}
{{- define "ostium.redisHost" -}}{{ include "ostium.fullname" . }}-redis{{- end -}}

{{- define "ostium.clusterSecretName" -}}
{{- .Values.clusterSecret.existingSecret | default (printf "%s-cluster" (include "ostium.fullname" .)) -}}
{{- end -}}

{{/* Whether the nodes read the Redis URL from a Secret (an external Redis). */}}
{{- define "ostium.redisExternal" -}}
{{- if and .Values.redis.enabled (or .Values.redis.external.url .Values.redis.external.existingSecret) }}true{{ end -}}
{{- end -}}

{{- define "ostium.redisSecretName" -}}
{{- .Values.redis.external.existingSecret | default (printf "%s-redis-url" (include "ostium.fullname" .)) -}}
{{- end -}}

{{/*
The Secret of a client or API resource's secret: `kind` is client or api, `entry`
its values, `id` its name. A generated one is named after a DNS-safe form of the
id plus a hash of it, so that ids such as `urn:orders` give distinct names.
*/}}
{{- define "ostium.entrySecretName" -}}
{{- if .entry.secret.existingSecret -}}
{{- .entry.secret.existingSecret -}}
{{- else -}}
{{- $safe := regexReplaceAll "[^a-z0-9-]+" (lower .id) "-" | trunc 40 | trimAll "-" -}}
{{- printf "%s-%s-%s-%s" (include "ostium.fullname" .root) .kind $safe (.id | sha256sum | trunc 8) -}}
{{- end -}}
{{- end -}}

{{- define "ostium.entrySecretKey" -}}
{{- .entry.secret.key | default (ternary "client_secret" "api_secret" (eq .kind "client")) -}}
{{- end -}}

{{/*
One TOML table's fields from a map: `key = value`, values written as JSON, whose
strings, numbers, booleans and arrays of them are TOML as well. `skip` lists keys
the chart handles itself.
*/}}
{{- define "ostium.tomlFields" -}}
{{- $skip := .skip | default list -}}
{{- range $key, $value := .fields }}
{{- if and (not (has $key $skip)) (not (kindIs "map" $value)) (not (kindIs "invalid" $value)) }}
{{ $key }} = {{ toJson $value }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Where a node finds files the chart mounts. */}}
{{- define "ostium.secretsDir" -}}/etc/ostium/secrets{{- end -}}
{{- define "ostium.tlsDir" -}}/etc/ostium/tls{{- end -}}

{{/*
The configuration of one node, but for `[cluster]`: the same on every node, as
docs/operations.md requires. Secrets are file paths into the secrets volume.
*/}}
{{- define "ostium.sharedConfig" -}}
{{- $root := . -}}
[server]
issuer = {{ .Values.issuer | toJson }}
listen = "0.0.0.0:{{ .Values.ports.http }}"
data_dir = "/var/lib/ostium"
{{- with .Values.server.workers }}
workers = {{ int64 . }}
{{- end }}
{{- with .Values.server.maxBodyBytes }}
max_body_bytes = {{ int64 . }}
{{- end }}
{{- with .Values.server.bodyTimeout }}
body_timeout = {{ int64 . }}
{{- end }}
{{- with .Values.server.maxConnectionsPerAddress }}
max_connections_per_address = {{ int64 . }}
{{- end }}
{{- with .Values.server.trustedProxies }}
trusted_proxies = {{ . | toJson }}
{{- end }}
{{- if .Values.management.enabled }}
management_listen = "0.0.0.0:{{ .Values.ports.management }}"
{{- end }}
{{- if .Values.tls.enabled }}
tls_cert_file = "{{ include "ostium.tlsDir" . }}/tls.crt"
tls_key_file = "{{ include "ostium.tlsDir" . }}/tls.key"
{{- end }}

[login]
{{- with .Values.login.maxFailuresPerUsername }}
max_failures_per_username = {{ int64 . }}
{{- end }}
{{- with .Values.login.maxFailuresPerAddress }}
max_failures_per_address = {{ int64 . }}
{{- end }}
{{- with .Values.login.failureWindow }}
failure_window = {{ int64 . }}
{{- end }}
{{- with .Values.login.maxConcurrentPerAddress }}
max_concurrent_per_address = {{ int64 . }}
{{- end }}
{{- if not (kindIs "invalid" .Values.login.maxWaitingPerAddress) }}
max_waiting_per_address = {{ int64 .Values.login.maxWaitingPerAddress }}
{{- end }}

[signing]
algorithm = {{ .Values.signingAlgorithm | toJson }}
{{- include "ostium.checkKeyRotation" . }}
{{- with .Values.signing }}
{{- if not (kindIs "invalid" .rotationInterval) }}
rotation_interval = {{ int64 .rotationInterval }}
{{- end }}
{{- if not (kindIs "invalid" .publishAhead) }}
publish_ahead = {{ int64 .publishAhead }}
{{- end }}
{{- if not (kindIs "invalid" .retireAfter) }}
retire_after = {{ int64 .retireAfter }}
{{- end }}
{{- end }}
{{- if .Values.redis.enabled }}

[cache]
{{- if include "ostium.redisExternal" . }}
redis_url_file = "{{ include "ostium.secretsDir" . }}/redis-url"
{{- else }}
redis_url = "redis://{{ include "ostium.redisHost" . }}:6379/"
{{- end }}
namespace = {{ .Values.redis.namespace | default .Release.Name | toJson }}
{{- end }}
{{- range .Values.config.apiScopes }}

[[api_scopes]]
{{- include "ostium.tomlFields" (dict "fields" .) }}
{{- end }}
{{- range $i, $r := .Values.config.apiResources }}

[[api_resources]]
{{- include "ostium.tomlFields" (dict "fields" $r "skip" (list "secret")) }}
{{- if $r.secret }}
api_secrets_file = "{{ include "ostium.secretsDir" $root }}/api/{{ $i }}"
{{- end }}
{{- end }}
{{- range .Values.config.identityResources }}

[[identity_resources]]
{{- include "ostium.tomlFields" (dict "fields" .) }}
{{- end }}
{{- range $i, $c := .Values.config.clients }}

[[clients]]
{{- include "ostium.tomlFields" (dict "fields" $c "skip" (list "secret")) }}
{{- if $c.secret }}
client_secrets_file = "{{ include "ostium.secretsDir" $root }}/clients/{{ $i }}"
{{- end }}
{{- end }}
{{- range .Values.config.users }}

[[users]]
{{- include "ostium.tomlFields" (dict "fields" .) }}
{{- with .claims }}

[users.claims]
{{- range $key, $value := . }}
{{ $key | toJson }} = {{ toJson $value }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Refuses a key lifecycle Ostium would refuse at start: a new key must be published
before it signs, so `publish_ahead` is shorter than `rotation_interval` (either one
unset is Ostium's default: 2 days and 90 days). Numbers are written with int64,
since values files give them as floats (7776000 would print as 7.776e+06).
*/}}
{{- define "ostium.checkKeyRotation" -}}
{{- $signing := .Values.signing | default dict -}}
{{- $rotation := int64 7776000 -}}
{{- $publish := int64 172800 -}}
{{- if not (kindIs "invalid" $signing.rotationInterval) }}{{ $rotation = int64 $signing.rotationInterval }}{{ end -}}
{{- if not (kindIs "invalid" $signing.publishAhead) }}{{ $publish = int64 $signing.publishAhead }}{{ end -}}
{{- if ge $publish $rotation -}}
{{- fail (printf "signing.publishAhead (%d seconds) must be shorter than signing.rotationInterval (%d seconds): Ostium refuses [signing] publish_ahead otherwise (null: Ostium's defaults, 172800 and 7776000)" $publish $rotation) -}}
{{- end -}}
{{- end -}}

{{/* `[cluster.peers]`: core i (pod ordinal i) is node i + 1 at its headless name. */}}
{{- define "ostium.peers" -}}
[cluster.peers]
{{- range $i := until (int .Values.core.replicas) }}
{{ add $i 1 }} = "{{ include "ostium.core" $ }}-{{ $i }}.{{ include "ostium.headless" $ }}.{{ $.Release.Namespace }}.svc.{{ $.Values.clusterDomain }}:{{ $.Values.ports.raft }}"
{{- end }}
{{- end -}}

{{/*
The volume every Ostium pod mounts at secretsDir: the cluster secret, the external
Redis URL, and each client's and API resource's secret, by position in the values.
*/}}
{{- define "ostium.secretsVolume" -}}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "ostium.clusterSecretName" . }}
          items:
            - key: {{ .Values.clusterSecret.key }}
              path: cluster.secret
      {{- if include "ostium.redisExternal" . }}
      - secret:
          name: {{ include "ostium.redisSecretName" . }}
          items:
            - key: {{ .Values.redis.external.existingSecretKey }}
              path: redis-url
      {{- end }}
      {{- range $i, $c := .Values.config.clients }}
      {{- if $c.secret }}
      {{- $ctx := dict "root" $ "entry" $c "kind" "client" "id" $c.client_id }}
      - secret:
          name: {{ include "ostium.entrySecretName" $ctx }}
          items:
            - key: {{ include "ostium.entrySecretKey" $ctx }}
              path: clients/{{ $i }}
      {{- end }}
      {{- end }}
      {{- range $i, $r := .Values.config.apiResources }}
      {{- if $r.secret }}
      {{- $ctx := dict "root" $ "entry" $r "kind" "api" "id" $r.name }}
      - secret:
          name: {{ include "ostium.entrySecretName" $ctx }}
          items:
            - key: {{ include "ostium.entrySecretKey" $ctx }}
              path: api/{{ $i }}
      {{- end }}
      {{- end }}
{{- end -}}

{{/* The port probes and the ServiceMonitor use: management when it is enabled. */}}
{{- define "ostium.opsPort" -}}
{{- if .Values.management.enabled }}management{{ else }}http{{ end -}}
{{- end -}}

{{- define "ostium.opsScheme" -}}
{{- if and .Values.tls.enabled (not .Values.management.enabled) }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}

{{/* The generated value of a Secret's key: kept from the live Secret on upgrades. */}}
{{- define "ostium.keptOrNew" -}}
{{- $live := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $live $live.data (hasKey $live.data .key) -}}
{{- index $live.data .key -}}
{{- else -}}
{{- randAlphaNum 43 | b64enc -}}
{{- end -}}
{{- end -}}
