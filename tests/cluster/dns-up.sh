#!/usr/bin/env bash
# dns-up.sh: cluster DNS for the running test cluster, as on every real cluster: CoreDNS
# (built from its Go module by build-coredns.sh, cached) as a host process beside the
# other components, serving cluster.local from the API (kubernetes plugin, with a
# kubeconfig of its own: user system:coredns, bound to kubeadm's system:coredns rights),
# reached by pods through the `kube-dns` Service in kube-system at 10.96.0.10 (its
# EndpointSlice points at the node address, where CoreDNS listens). The kubelet hands that
# address and the cluster.local search list to every pod (clusterDNS, clusterDomain).
#
# Run after cluster-up.sh (tests/cluster/__init__.py's ensure_cluster and `make cluster-up`
# do). Idempotent, and cheap when everything is in place (a second run changes nothing):
# - CoreDNS is restarted only when its Corefile or kubeconfig changed, or it is not running.
# - The kubelet is restarted only when its config lacks clusterDNS: once after each fresh
#   cluster-up (which writes kubelet.yaml anew). Its running pods survive a restart (their
#   containers belong to containerd); pods created before it keep the resolv.conf they had.
# Kept apart from cluster-up.sh, lib.sh and versions.sh on purpose: their hash is the
# cluster's recipe, and a change there restarts a cluster that other test runs share.
# Progress goes to stderr, like cluster-up.sh. Logs: $STATE_DIR/logs/coredns.log.
set -euo pipefail
LOG_TAG=dns-up
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=dns-versions.sh
. "$here/dns-versions.sh"

[ "$(id -u)" = 0 ] || die "must run as root (starts CoreDNS, may restart the kubelet)"
T0=$SECONDS
mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR" "$CONF_DIR"
# cluster-up's lock: it must not rewrite kubelet.yaml or restart components meanwhile.
exec 9>"$STATE_DIR/.lock"
flock -w 600 9 || die "another cluster-up/cluster-down/dns-up holds $STATE_DIR/.lock"

SUPER_KUBECONFIG="$KCFG_DIR/super-admin.conf"
COREDNS_KUBECONFIG="$CONF_DIR/coredns.conf"
COREFILE="$CONF_DIR/Corefile"
KUBELET_YAML="$CONF_DIR/kubelet.yaml"
COREDNS_READY="127.0.0.1:18181"

kc() { "$KUBECTL" --kubeconfig "$SUPER_KUBECONFIG" --request-timeout=10s "$@"; }
node_ready() {
  [ "$(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

pid_of kubelet "$K8S_BIN/kubelet" >/dev/null && [ "$(kc get --raw /readyz 2>/dev/null)" = ok ] \
  || die "the cluster is not running: run tests/cluster/cluster-up.sh first"

# --- 1. the binary -----------------------------------------------------------------------
if ! { [ -x "$COREDNS_BIN/coredns" ] && [ "$(cat "$COREDNS_BIN/plugins" 2>/dev/null)" = "$COREDNS_PLUGINS" ]; }; then
  log "building CoreDNS $COREDNS_VERSION (cold: about 6 minutes on 2 cores; log: $LOG_DIR/build-coredns.log)"
  "$here/build-coredns.sh" 2>&1 | tee -a "$LOG_DIR/build-coredns.log" | grep --line-buffered '^\[build-coredns' >&2 || true
  [ -x "$COREDNS_BIN/coredns" ] || die "build-coredns.sh failed; see $LOG_DIR/build-coredns.log"
fi

# --- 2. its identity and rights, the Service ----------------------------------------------
# A client certificate of the cluster's CA, made again when the certificates were.
if ! [ -s "$COREDNS_KUBECONFIG" ] || [ "$PKI_DIR/.stamp" -nt "$COREDNS_KUBECONFIG" ]; then
  log "writing CoreDNS's kubeconfig (user system:coredns)"
  "$K8S_BIN/kubeadm" kubeconfig user --config "$PKI_DIR/kubeadm.yaml" --client-name system:coredns \
    >"$COREDNS_KUBECONFIG.new" 2>>"$LOG_DIR/kubeadm.log" || die "kubeadm kubeconfig user failed; see $LOG_DIR/kubeadm.log"
  chmod 600 "$COREDNS_KUBECONFIG.new"
  mv "$COREDNS_KUBECONFIG.new" "$COREDNS_KUBECONFIG"
fi
# kubeadm's ClusterRole and binding for CoreDNS (here the user of that certificate), the
# kube-dns Service (no selector: CoreDNS is not a pod) and its EndpointSlice.
kc apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns", labels: {app.kubernetes.io/managed-by: flowrun-dns-up}}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns", labels: {app.kubernetes.io/managed-by: flowrun-dns-up}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS, app.kubernetes.io/managed-by: flowrun-dns-up}
spec:
  clusterIP: $CLUSTER_DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: flowrun-dns-up
addressType: IPv4
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
  nodeName: $NODE_NAME
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOF

# --- 3. CoreDNS --------------------------------------------------------------------------
# kubeadm's default Corefile, bound to the node address only (this machine may run a
# resolver of its own on port 53 elsewhere); other names go to this machine's resolver.
cat >"$COREFILE.new" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18080
    ready $COREDNS_READY
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $COREDNS_KUBECONFIG
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loop
}
EOF
mv "$COREFILE.new" "$COREFILE"
want=$(cat "$COREFILE" "$COREDNS_KUBECONFIG" | sha256sum | cut -c1-16)
coredns_ready() { curl -fsS "http://$COREDNS_READY/ready" >/dev/null; }
if pid_of coredns "$COREDNS_BIN/coredns" >/dev/null && [ "$(cat "$RUN_DIR/coredns.confhash" 2>/dev/null)" = "$want" ]; then
  :
else
  stop_component coredns "$COREDNS_BIN/coredns"
  log "starting CoreDNS $COREDNS_VERSION on $NODE_IP:53 (Service kube-system/kube-dns, $CLUSTER_DNS_IP)"
  start_bg coredns "$COREDNS_BIN/coredns" -conf "$COREFILE"
  echo "$want" >"$RUN_DIR/coredns.confhash"
fi
wait_until 60 coredns coredns_ready || die "CoreDNS did not become ready; see $LOG_DIR/coredns.log"

# --- 4. the kubelet hands it to pods -----------------------------------------------------
# The kubelet reads its config at start: restart it when the config lacks the cluster DNS,
# or when the running kubelet is not the one this script restarted after writing it (a run
# stopped in between). cluster-up.sh starts the kubelet only with a config of its own.
restart=""
if ! grep -q '^clusterDNS:' "$KUBELET_YAML"; then
  log "adding clusterDNS $CLUSTER_DNS_IP and clusterDomain $CLUSTER_DOMAIN to the kubelet's config"
  { cat "$KUBELET_YAML"; printf '# Added by dns-up.sh (cluster DNS: CoreDNS behind kube-system/kube-dns).\nclusterDNS: [%s]\nclusterDomain: %s\n' \
      "$CLUSTER_DNS_IP" "$CLUSTER_DOMAIN"; } >"$KUBELET_YAML.new"
  mv "$KUBELET_YAML.new" "$KUBELET_YAML"
  restart=1
fi
kubelet_pid=$(pid_of kubelet "$K8S_BIN/kubelet")
[ "$(cat "$RUN_DIR/kubelet-dns.pid" 2>/dev/null)" = "$kubelet_pid" ] || restart=1
if [ -n "$restart" ]; then
  # The same command line as cluster-up.sh started it with.
  mapfile -d '' kubelet_cmd <"/proc/$kubelet_pid/cmdline"
  log "restarting the kubelet once for the cluster DNS (running pods keep running)"
  stop_component kubelet "$K8S_BIN/kubelet" 15
  start_bg kubelet "${kubelet_cmd[@]}"
  wait_until 60 kubelet curl -fsS http://127.0.0.1:10248/healthz \
    || die "the kubelet did not come back; see $LOG_DIR/kubelet.log"
  wait_until 60 node node_ready \
    || die "node $NODE_NAME not Ready after the kubelet restart; see $LOG_DIR/kubelet.log"
  pid_of kubelet "$K8S_BIN/kubelet" >"$RUN_DIR/kubelet-dns.pid"
fi

# --- 5. a real lookup through the Service, as a pod makes it ------------------------------
api_ip=$(kc get service kubernetes -n default -o 'jsonpath={.spec.clusterIP}')
resolves() { [ "$("$here/cluster-dns.sh" getent ahostsv4 kubernetes.default | awk 'NR==1{print $1}')" = "$api_ip" ]; }
wait_until 60 lookup resolves \
  || die "kubernetes.default does not resolve to $api_ip through $CLUSTER_DNS_IP; see $LOG_DIR/coredns.log and $LOG_DIR/kube-proxy.log"
log "cluster DNS ready in $((SECONDS - T0)) s: kubernetes.default -> $api_ip via $CLUSTER_DNS_IP (CoreDNS $COREDNS_VERSION)"
