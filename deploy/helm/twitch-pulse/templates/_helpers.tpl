{{/* Names and labels shared by every object of the chart. */}}
{{- define "pulse.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pulse.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pulse.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "pulse.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "pulse.fullname" .)) -}}
{{- end -}}

{{- define "pulse.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Pod annotations: a checksum so config changes roll the pods, and for a worker (.scrape)
the Prometheus scrape convention. Called with (dict "root" $ "scrape" true|false). */}}
{{- define "pulse.podAnnotations" -}}
checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
checksum/secret: {{ include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum }}
{{- if and .scrape .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .root.Values.metrics.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/* The container every worker (and the dashboard) runs: command, environment (.env: plain
values, .extraEnv: full entries such as valueFrom), the port it serves and probes on it
(.serve: name, port, path; default the metrics port and /healthz), .image to override. */}}
{{- define "pulse.container" -}}
{{- $serve := .serve | default (dict "name" "metrics" "port" .root.Values.metrics.port "path" "/healthz") -}}
- name: {{ .name }}
  image: {{ .image | default (include "pulse.image" .root) }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: {{ toJson .command }}
  envFrom:
    - configMapRef:
        name: {{ include "pulse.fullname" .root }}-config
    - secretRef:
        name: {{ include "pulse.secretName" .root }}
  {{- if or .env .extraEnv }}
  env:
    {{- range $key, $value := .env }}
    - name: {{ $key }}
      value: {{ $value | quote }}
    {{- end }}
    {{- with .extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
  {{- if .probes }}
  ports:
    - name: {{ $serve.name }}
      containerPort: {{ $serve.port }}
      protocol: TCP
  readinessProbe:
    httpGet: {path: {{ $serve.path }}, port: {{ $serve.name }}}
    {{- toYaml .root.Values.probes.readiness | nindent 4 }}
  livenessProbe:
    httpGet: {path: {{ $serve.path }}, port: {{ $serve.name }}}
    {{- toYaml .root.Values.probes.liveness | nindent 4 }}
  {{- end }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- toYaml .root.Values.securityContext | nindent 4 }}
  {{- if .stateVolume }}
  volumeMounts:
    - name: {{ .stateVolume }}
      mountPath: /app/state
  {{- end }}
{{- end -}}

{{- define "pulse.podSpecCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
