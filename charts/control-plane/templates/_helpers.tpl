{{/*
Expand the name of the chart.
*/}}
{{- define "control-plane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (63 characters at most: DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "control-plane.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version as used by the chart label.
*/}}
{{- define "control-plane.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "control-plane.labels" -}}
{{ include "control-plane.baseLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{/*
Labels without the component (hook Jobs and test pods add their own component).
*/}}
{{- define "control-plane.baseLabels" -}}
helm.sh/chart: {{ include "control-plane.chart" . }}
app.kubernetes.io/name: {{ include "control-plane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: addon-control-plane
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels (immutable on a Deployment: never add to these).
*/}}
{{- define "control-plane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "control-plane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}

{{/*
The ServiceAccount name.
*/}}
{{- define "control-plane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "control-plane.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding DATABASE_URL, ADDON_PASSWORD, ... : an existing one, or the one this chart creates.
*/}}
{{- define "control-plane.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- include "control-plane.fullname" . }}
{{- end }}
{{- end }}

{{/*
The container image reference.
*/}}
{{- define "control-plane.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Where the NATS credentials file is mounted.
*/}}
{{- define "control-plane.natsCredsPath" -}}
{{- printf "/etc/nats/creds/%s" .Values.nats.credsSecret.key }}
{{- end }}

{{/*
Env entries that come from the Secret (one secretKeyRef per variable, so `kubectl describe`
shows exactly which key feeds which variable). Optional keys may be absent from the Secret.
*/}}
{{- define "control-plane.secretEnv" -}}
{{- $secret := include "control-plane.secretName" . }}
{{- range $name := list "DATABASE_URL" "ADDON_PASSWORD" "SSO_SALT" "OAUTH_CLIENT_SECRET" "ENCRYPTION_KEY" "SESSION_SECRET" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $name }}
{{- end }}
{{- range $name := list "ENCRYPTION_KEYS_OLD" "NATS_USER" "NATS_PASSWORD" "METRICS_TOKEN" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $name }}
      optional: true
{{- end }}
{{- if not .Values.nats.url }}
- name: NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: NATS_URL
{{- end }}
{{- end }}

{{/*
Restricted pod security context (Pod Security Standards "restricted").
*/}}
{{- define "control-plane.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "control-plane.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}
