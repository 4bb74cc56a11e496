{{/*
Expand the name of the chart.
*/}}
{{- define "region-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (63 characters at most: DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "region-agent.fullname" -}}
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
{{- define "region-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "region-agent.labels" -}}
{{ include "region-agent.baseLabels" . }}
app.kubernetes.io/component: agent
{{- end }}

{{/*
Labels without the component (hook Jobs and test pods add their own component).
*/}}
{{- define "region-agent.baseLabels" -}}
helm.sh/chart: {{ include "region-agent.chart" . }}
app.kubernetes.io/name: {{ include "region-agent.name" . }}
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
{{- define "region-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "region-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{/*
The ServiceAccount name.
*/}}
{{- define "region-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "region-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding NATS_USER / NATS_PASSWORD (only when NATS user/password auth is used).
*/}}
{{- define "region-agent.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- include "region-agent.fullname" . }}
{{- end }}
{{- end }}

{{/*
The container image reference.
*/}}
{{- define "region-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Where the NATS credentials file is mounted.
*/}}
{{- define "region-agent.natsCredsPath" -}}
{{- printf "/etc/nats/creds/%s" .Values.nats.credsSecret.key }}
{{- end }}

{{/*
The namespace the agent manages instances in (KUBE_NAMESPACE); the Role lives there.
*/}}
{{- define "region-agent.managedNamespace" -}}
{{- .Values.kubernetes.namespace | default .Release.Namespace }}
{{- end }}

{{/*
TLS_ISSUER as the agent reads it.
*/}}
{{- define "region-agent.tlsIssuer" -}}
{{- if .Values.certManager.enabled }}cert-manager{{ else }}private-ca{{ end }}
{{- end }}

{{- define "region-agent.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "region-agent.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/*
Non-empty when pods may roll over one another (RollingUpdate): the kubernetes driver fences
every object write, and without a ReadWriteOnce data volume a new pod can start anywhere.
*/}}
{{- define "region-agent.rolling" -}}
{{- if and (eq .Values.agent.driver "kubernetes") (not .Values.persistence.enabled) }}true{{- end }}
{{- end }}
