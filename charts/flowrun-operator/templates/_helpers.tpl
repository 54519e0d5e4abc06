{{/* The chart's name, overridable with nameOverride. */}}
{{- define "flowrun-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of every object: `<release>-<chart>` (or the release name when it already
contains the chart name), at most 52 characters so suffixes such as `-webhook-tls` and
`-cluster` still fit in 63. Cluster-scoped objects are named after it, so releases never collide.
*/}}
{{- define "flowrun-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "flowrun-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "flowrun-operator.labels" -}}
helm.sh/chart: {{ include "flowrun-operator.chart" . }}
{{ include "flowrun-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flowrun-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the operator pod (immutable in the Deployment: never add to them). */}}
{{- define "flowrun-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flowrun-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "flowrun-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flowrun-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Operator and runner image references (tags default to the appVersion). */}}
{{- define "flowrun-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "flowrun-operator.runnerImage" -}}
{{- printf "%s:%s" .Values.runner.image.repository (default .Chart.AppVersion .Values.runner.image.tag) }}
{{- end }}

{{/* The webhook's Service and TLS Secret. */}}
{{- define "flowrun-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "flowrun-operator.fullname" .) }}
{{- end }}

{{- define "flowrun-operator.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "flowrun-operator.fullname" .) }}
{{- end }}

{{/*
"true" when the operator's namespaced rights must be cluster-wide: it watches the whole
cluster, or a namespace glob (a Role cannot be made for namespaces that do not exist yet).
*/}}
{{- define "flowrun-operator.clusterWide" -}}
{{- $wide := not .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
{{- if or (contains "*" .) (contains "?" .) (contains "[" .) (hasPrefix "!" .) }}
{{- $wide = true }}
{{- end }}
{{- end }}
{{- ternary "true" "" $wide }}
{{- end }}

{{/*
The rules the operator needs in every namespace it watches: exactly
`flowrun.kube.calls.OPERATOR_RIGHTS` (tests/unit/chart/test_operator_rights.py checks
both ways; docs/security.md says why each is needed). It creates each run's Role, so it
must hold every verb that Role grants (RBAC escalation prevention): flowruns
get/list/watch/patch/create, flowruns/status get/patch, flowruninputs create and
flowruninboxes get/list/watch.
*/}}
{{- define "flowrun-operator.namespacedRules" -}}
- apiGroups: [flowrun.io]
  resources: [flowruns]
  verbs: [get, list, watch, patch, create, delete]
- apiGroups: [flowrun.io]
  resources: [flowruns/status]
  verbs: [get, patch]
- apiGroups: [flowrun.io]
  resources: [flowruninputs]
  verbs: [list, watch, delete, create]
- apiGroups: [flowrun.io]
  resources: [flowruninboxes]
  verbs: [get, list, watch, create, patch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, get, list, watch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [persistentvolumeclaims, serviceaccounts]
  verbs: [create, get]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, get]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .Values.notifications.enabled }}
- apiGroups: [flowrun.io]
  resources: [flowrunnotifiers]
  verbs: [get, list, watch]
- apiGroups: [flowrun.io]
  resources: [flowrunnotifiers/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
{{- end }}

{{/*
"true" when the CRD `.name` exists already and this release (`.Release`) does not manage it: applied
with `kubectl apply -f crds/` (as GitOps users do) or installed by another release. Helm
would refuse to take it over ("invalid ownership metadata"), so the chart leaves it as it
is and says so in NOTES.txt. `helm template` (no cluster) finds nothing: it renders the CRD.
*/}}
{{- define "flowrun-operator.crdManagedElsewhere" -}}
{{- $existing := lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" .name }}
{{- if $existing }}
{{- $annotations := default dict $existing.metadata.annotations }}
{{- if not (and (eq (index $annotations "meta.helm.sh/release-name" | default "") .Release.Name) (eq (index $annotations "meta.helm.sh/release-namespace" | default "") .Release.Namespace)) }}
{{- "true" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The objects of this release's operator instance (docs/design.md, "Operator instances"):
labelled flowrun.io/instance=<instance>, or unlabelled when the release has no instance.
A label selector's body (matchLabels or matchExpressions).
*/}}
{{- define "flowrun-operator.instanceSelector" -}}
{{- if .Values.instance -}}
matchLabels:
  flowrun.io/instance: {{ .Values.instance | quote }}
{{- else -}}
matchExpressions:
  - {key: flowrun.io/instance, operator: DoesNotExist}
{{- end -}}
{{- end }}

{{/*
The webhooks' failurePolicy: webhook.failurePolicy, else Fail with two or more replicas
(some replica always answers) and Ignore with one (the operator's own checks stand behind it).
*/}}
{{- define "flowrun-operator.failurePolicy" -}}
{{- .Values.webhook.failurePolicy | default (ternary "Fail" "Ignore" (ge (int .Values.replicaCount) 2)) -}}
{{- end }}
