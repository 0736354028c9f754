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

{{/* Pod annotations: Prometheus scrape convention and a checksum so config changes roll the pods. */}}
{{- define "pulse.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metrics.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/* The container every worker runs: command, environment, metrics port, probes. */}}
{{- define "pulse.container" -}}
- name: {{ .name }}
  image: {{ include "pulse.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: {{ toJson .command }}
  envFrom:
    - configMapRef:
        name: {{ include "pulse.fullname" .root }}-config
    - secretRef:
        name: {{ include "pulse.secretName" .root }}
  {{- with .env }}
  env:
    {{- range $key, $value := . }}
    - name: {{ $key }}
      value: {{ $value | quote }}
    {{- end }}
  {{- end }}
  {{- if .probes }}
  ports:
    - name: metrics
      containerPort: {{ .root.Values.metrics.port }}
      protocol: TCP
  readinessProbe:
    httpGet: {path: /healthz, port: metrics}
    {{- toYaml .root.Values.probes.readiness | nindent 4 }}
  livenessProbe:
    httpGet: {path: /healthz, port: metrics}
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
