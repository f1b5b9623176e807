{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "l7proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name used for every cluster object of the release. */}}
{{- define "l7proxy.fullname" -}}
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

{{- define "l7proxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "l7proxy.labels" -}}
helm.sh/chart: {{ include "l7proxy.chart" . }}
{{ include "l7proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "l7proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "l7proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "l7proxy.controller.selectorLabels" -}}
{{ include "l7proxy.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "l7proxy.controller.serviceAccountName" -}}
{{- default (printf "%s-controller" (include "l7proxy.fullname" .)) .Values.controller.serviceAccount.name }}
{{- end }}

{{/* Service fronting the webhooks; its DNS name is in the serving certificate. */}}
{{- define "l7proxy.webhook.serviceName" -}}
{{- printf "%s-webhook" (include "l7proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "l7proxy.webhook.secretName" -}}
{{- printf "%s-webhook-tls" (include "l7proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "l7proxy.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion (toString .Values.image.tag)) }}
{{- end }}
{{- end }}

{{/* Comma-separated list for the LIST flags of `l7proxy redirect`, e.g. "8081,9090". */}}
{{- define "l7proxy.csv" -}}
{{- $items := list }}
{{- range . }}{{ $items = append $items (toString .) }}{{ end }}
{{- join "," $items }}
{{- end }}

{{/* Test workload labels, also used by the test policy's appliedTo. */}}
{{- define "l7proxy.tests.webLabels" -}}
app.kubernetes.io/name: l7proxy-test-web
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Test resources are `helm test` hooks, created when the test runs: by then the injection webhook is
registered and the controller is ready, so the test workload is injected. Re-running the test
replaces them. The namespace holding them is an ordinary release object.
*/}}
{{- define "l7proxy.tests.hookAnnotations" -}}
helm.sh/hook: test
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation
{{- end }}
