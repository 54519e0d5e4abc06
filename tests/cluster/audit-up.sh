#!/usr/bin/env bash
# audit-up.sh: the API server's audit log on the running local cluster (bench/peers.py
# counts every client's requests per run from it: the operator's, the runners', the Job
# controller's, the scheduler's, the kubelet's). A no-op when it is on with this policy.
#
# Otherwise it restarts kube-apiserver ALONE, with the arguments it runs with now (read
# from /proc/<pid>/cmdline) plus the audit flags: etcd, the other components, the pods
# and every object stay; clients see "connection refused" for a few seconds. It is not
# part of cluster-up.sh on purpose: cluster-up.sh restarts the whole cluster (a fresh
# etcd) when the hash of its files changes, and the worktrees sharing this cluster carry
# different versions of them; a flag added there would have every older worktree's
# cluster-up.sh wipe the cluster back and forth. Called after cluster-up.sh and
# dns-up.sh by tests/cluster/__init__.py (ensure_cluster), so a fresh cluster gets it once.
#
# Bounded: the log rotates at 100 MB and keeps 3 old files (at most ~400 MB). Policy:
# Metadata (who, verb, resource, namespace, name, code; no bodies) for every request,
# nothing for health, metrics and discovery probes; only the stage at which a request
# completes (and a watch's start). See docs/cluster.md, "The audit log".
set -euo pipefail
LOG_TAG=audit-up
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "must run as root (restarts kube-apiserver)"
AUDIT_DIR="$STATE_DIR/audit"
POLICY="$AUDIT_DIR/policy.yaml"
AUDIT_LOG="$AUDIT_DIR/audit.log"
mkdir -p "$AUDIT_DIR"
exec 9>"$STATE_DIR/.lock"
flock -w 600 9 || die "another cluster-up/cluster-down holds $STATE_DIR/.lock"

cat >"$POLICY.new" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/metrics", "/version", "/openapi/*", "/api", "/apis", "/apis/*"]
- level: Metadata
EOF
mv "$POLICY.new" "$POLICY"
FLAGS=(--audit-policy-file="$POLICY" --audit-log-path="$AUDIT_LOG" --audit-log-format=json
  --audit-log-maxsize=100 --audit-log-maxbackup=3 --audit-log-maxage=2 --audit-log-mode=batch)
WANT=$(printf '%s\n' "${FLAGS[@]}" | cat - "$POLICY" | sha256sum | cut -c1-16)

pid=$(pid_of kube-apiserver "$K8S_BIN/kube-apiserver") || die "kube-apiserver is not running (cluster-up.sh first)"
if [ "$(cat "$RUN_DIR/audit.stamp" 2>/dev/null)" = "$WANT" ] && tr '\0' '\n' <"/proc/$pid/cmdline" \
    | grep -qx -- "--audit-policy-file=$POLICY"; then
  exit 0
fi

args=()
while IFS= read -r -d '' a; do
  case "$a" in --audit-*) ;; *) args+=("$a") ;; esac
done <"/proc/$pid/cmdline"
[ "${args[0]}" = "$K8S_BIN/kube-apiserver" ] || die "unexpected kube-apiserver command line: ${args[0]}"

log "restarting kube-apiserver with the audit log ($AUDIT_LOG); clients reconnect in seconds"
# Stateless (etcd keeps everything): no graceful drain of up to 15 s; 3 s, then SIGKILL.
stop_component kube-apiserver "$K8S_BIN/kube-apiserver" 3
start_bg kube-apiserver "${args[@]}" "${FLAGS[@]}"
wait_until 120 kube-apiserver bash -c "[ \"\$('$KUBECTL' --kubeconfig '$KCFG_DIR/super-admin.conf' --request-timeout=10s get --raw /readyz 2>/dev/null)\" = ok ]" \
  || die "kube-apiserver did not become ready; see $LOG_DIR/kube-apiserver.log"
echo "$WANT" >"$RUN_DIR/audit.stamp"
log "kube-apiserver ready, audit log on"
