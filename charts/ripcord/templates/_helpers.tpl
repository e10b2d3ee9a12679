{{/* Names, labels and checked settings shared by every template. */}}

{{/* The chart name, or nameOverride. */}}
{{- define "ripcord.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-and-chart prefix of every resource name: the release name when it already contains the chart name. */}}
{{- define "ripcord.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "ripcord.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the controller's Deployment, ServiceAccount, Service and RBAC objects. The sidecar contract expects the Service at ripcord-controller.<ns>.svc with the default release name. */}}
{{- define "ripcord.controller" -}}
{{- printf "%s-controller" (include "ripcord.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of the MutatingWebhookConfiguration: the controller's name, so the controller finds the one it may patch. */}}
{{- define "ripcord.webhookName" -}}
{{- include "ripcord.controller" . }}
{{- end }}

{{/* Secret holding the webhook and intake serving certificate. */}}
{{- define "ripcord.tlsSecret" -}}
{{- default (printf "%s-tls" (include "ripcord.controller" .)) .Values.tls.secretName }}
{{- end }}

{{/* Lease electing the acting replica. */}}
{{- define "ripcord.leaseName" -}}
{{- default (include "ripcord.controller" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Namespaces never injected: the controller's own, kube-system, and the configured ones. */}}
{{- define "ripcord.excludedNamespaces" -}}
{{- toJson (concat (list .Release.Namespace "kube-system") .Values.webhook.excludeNamespaces | uniq) }}
{{- end }}

{{/* "true" when cert-manager issues the serving certificate, "" when the controller does; fails on any other tls.mode. */}}
{{- define "ripcord.certManager" -}}
{{- if eq .Values.tls.mode "cert-manager" }}true
{{- else if ne .Values.tls.mode "controller" }}
{{- fail (printf "tls.mode is %q; expected \"controller\" or \"cert-manager\"" .Values.tls.mode) }}
{{- end }}
{{- end }}

{{/* Issuer of the serving certificate in cert-manager mode: the configured one, or the chart's own CA issuer. */}}
{{- define "ripcord.issuerRef" -}}
{{- if .Values.tls.certManager.issuerRef }}
{{- toYaml .Values.tls.certManager.issuerRef }}
{{- else }}
name: {{ include "ripcord.fullname" . }}-ca
kind: Issuer
group: cert-manager.io
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}; the tag defaults to the chart's appVersion. */}}
{{- define "ripcord.image" -}}
{{- $image := index . 0 }}
{{- $root := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "ripcord.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ripcord.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ripcord
{{- end }}

{{/* Labels that select the controller's pods. */}}
{{- define "ripcord.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ripcord.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* Checks on values that templates cannot express by shape alone. */}}
{{- define "ripcord.validate" -}}
{{- if or (lt (int .Values.webhook.timeoutSeconds) 1) (gt (int .Values.webhook.timeoutSeconds) 2) }}
{{- fail (printf "webhook.timeoutSeconds is %v; it must be 1 or 2 so a slow controller never delays pod creation for long" .Values.webhook.timeoutSeconds) }}
{{- end }}
{{- if lt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount must be at least 1" }}
{{- end }}
{{- $_ := include "ripcord.certManager" . }}
{{- end }}

{{/* RBAC rules on watched workloads, used by the ClusterRole (all namespaces) or by one Role per watched namespace. */}}
{{- define "ripcord.workloadRules" -}}
# Watch releases: Deployments and their ReplicaSets. Patch a Deployment to roll it back, hold a
# quarantined template (pause) and annotate it with its ReleaseCheck.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["get", "list", "watch"]
# Find a release's pods (baseline peers, intake callers). Read only.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Events on Deployments and ReleaseChecks (a repeated event is patched).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# One ReleaseCheck per release, with its evidence in status.
- apiGroups: ["ripcord.dev"]
  resources: ["releasechecks"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["ripcord.dev"]
  resources: ["releasechecks/status"]
  verbs: ["get", "update", "patch"]
{{- if .Values.openFeature.enabled }}
# Turn an OpenFeature Operator flag off (defaultVariant to its off variant, targeting dropped).
- apiGroups: ["core.openfeature.dev"]
  resources: ["featureflags"]
  verbs: ["get", "patch"]
{{- end }}
{{- end }}
