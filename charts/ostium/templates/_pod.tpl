{{/*
What core and edge pods share: the container's security, environment, probes and
volumes. `.root` is the chart context, `.config` the configuration file's path,
`.raft` whether the pod serves Raft, `.resources` its resources.
*/}}

{{- define "ostium.container" -}}
- name: ostium
  image: {{ include "ostium.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: ["serve", "--config", {{ .config | quote }}]
  env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: OTEL_SERVICE_NAME
      value: ostium
    # Edge pods share one node id: name each telemetry instance by its pod.
    - name: OTEL_RESOURCE_ATTRIBUTES
      value: service.instance.id=$(POD_NAME)
    {{- with .root.Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: http
      containerPort: {{ .root.Values.ports.http }}
    {{- if .raft }}
    - name: raft
      containerPort: {{ .root.Values.ports.raft }}
    {{- end }}
    {{- if .root.Values.management.enabled }}
    - name: management
      containerPort: {{ .root.Values.ports.management }}
    {{- end }}
  # A node opens its ports only once it has caught up with a quorum (a core) or
  # reached a core (an edge), which may take minutes: the startup probe allows for
  # it before liveness counts.
  startupProbe:
    httpGet:
      path: /healthz
      port: {{ include "ostium.opsPort" .root }}
      scheme: {{ include "ostium.opsScheme" .root }}
    periodSeconds: 5
    failureThreshold: {{ .root.Values.core.startupFailureThreshold }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: {{ include "ostium.opsPort" .root }}
      scheme: {{ include "ostium.opsScheme" .root }}
    periodSeconds: 10
    timeoutSeconds: 3
    failureThreshold: 3
  readinessProbe:
    httpGet:
      path: /readyz
      port: {{ include "ostium.opsPort" .root }}
      scheme: {{ include "ostium.opsScheme" .root }}
    periodSeconds: 5
    timeoutSeconds: 3
    failureThreshold: 2
  lifecycle:
    # Endpoints are removed asynchronously: keep serving a moment after the pod is
    # marked terminating, so that no new request lands on a node that drains.
    preStop:
      exec:
        command: ["sleep", "5"]
  securityContext:
    {{- toYaml .root.Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: /etc/ostium/config
      readOnly: true
    - name: secrets
      mountPath: {{ include "ostium.secretsDir" .root }}
      readOnly: true
    - name: data
      mountPath: /var/lib/ostium
    - name: tmp
      mountPath: /tmp
    {{- if .root.Values.tls.enabled }}
    - name: tls
      mountPath: {{ include "ostium.tlsDir" .root }}
      readOnly: true
    {{- end }}
{{- end -}}

{{- define "ostium.volumes" -}}
- name: config
  configMap:
    name: {{ include "ostium.fullname" . }}-config
{{ include "ostium.secretsVolume" . }}
- name: tmp
  emptyDir: {}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ required "tls.secretName is required when tls.enabled" .Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end -}}
