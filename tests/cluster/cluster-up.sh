#!/usr/bin/env bash
# cluster-up.sh: a real single-node Kubernetes for the test suite, as host processes:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy on
# containerd (CRI) with the CNI bridge plugin. Binaries come from build-binaries.sh
# (Go modules, cached), certificates from `kubeadm init phase`. See docs/cluster.md.
#
# - Idempotent: a healthy cluster of the same version and recipe is reused in seconds.
# - Starts cleanly over what a killed cluster left (PID files, processes, kubelet mounts,
#   cni0 and its IP allocations, iptables chains, pod containers, etcd data): etcd and the
#   kubelet's root dir are fresh on every (re)start; images in containerd are kept.
# - Progress goes to stderr; the LAST line of stdout is `export KUBECONFIG=<admin.conf>`,
#   so `eval "$(tests/cluster/cluster-up.sh)"` works.
# State: /var/lib/flowrun-cluster (FLOWRUN_CLUSTER_STATE); logs in its logs/ directory.
set -euo pipefail
LOG_TAG=cluster-up
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "must run as root (starts containerd, kubelet, changes iptables)"
T0=$SECONDS
mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR" "$CONF_DIR"
exec 9>"$STATE_DIR/.lock"
flock -w 600 9 || die "another cluster-up/cluster-down holds $STATE_DIR/.lock"

ADMIN_KUBECONFIG="$KCFG_DIR/admin.conf"
SUPER_KUBECONFIG="$KCFG_DIR/super-admin.conf"
# The recipe's identity: versions, addresses and these scripts. Another one restarts.
STAMP=$(cat "$here/versions.sh" "$here/lib.sh" "$here/cluster-up.sh" <(echo "$NODE_IP") | sha256sum | cut -c1-16)

kc() { "$KUBECTL" --kubeconfig "$SUPER_KUBECONFIG" --request-timeout=10s "$@"; }

apiserver_ready() { [ "$(kc get --raw /readyz 2>/dev/null)" = ok ]; }

node_ready() {
  [ "$(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

cluster_healthy() {
  [ "$(cat "$RUN_DIR/cluster.stamp" 2>/dev/null)" = "$STAMP" ] || return 1
  pid_of etcd "$ETCD_BIN/etcd" >/dev/null || return 1
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    pid_of "$c" "$K8S_BIN/$c" >/dev/null || return 1
  done
  [ -f "$RUN_DIR/pv-perms.pid" ] && [ -d "/proc/$(cat "$RUN_DIR/pv-perms.pid")" ] || return 1
  apiserver_ready && node_ready
}

finish() {
  log "cluster ready in $((SECONDS - T0)) s (logs: $LOG_DIR)"
  echo "export KUBECONFIG=$ADMIN_KUBECONFIG"
  exit 0
}

# --- 1. packages and binaries ------------------------------------------------------------
ensure_packages docker.io containerd runc conntrack iptables iproute2 \
  containernetworking-plugins socat jq ethtool kmod busybox-static debootstrap curl \
  inotify-tools util-linux
if ! { [ -x "$K8S_BIN/kubelet" ] && [ -x "$K8S_BIN/kubeadm" ] && [ -x "$ETCD_BIN/etcd" ] \
    && [ -x "$HELM_BIN/helm" ] && [ -x "$KUBECONFORM_BIN/kubeconform" ]; }; then
  log "building binaries (cold: about 8 minutes on 2 cores; log: $LOG_DIR/build-binaries.log)"
  "$here/build-binaries.sh" all 2>&1 | tee -a "$LOG_DIR/build-binaries.log" | grep --line-buffered '^\[build-binaries' >&2 \
    || true
  [ -x "$K8S_BIN/kubelet" ] && [ -x "$ETCD_BIN/etcd" ] || die "build-binaries.sh failed; see $LOG_DIR/build-binaries.log"
fi

# --- 2. reuse a healthy cluster ----------------------------------------------------------
if cluster_healthy; then
  start_containerd
  start_dockerd
  log "reusing the running cluster ($K8S_VERSION, node $NODE_NAME)"
  finish
fi

# --- 3. clear whatever a previous cluster left -------------------------------------------
log "starting a fresh cluster ($K8S_VERSION); clearing leftovers of any previous one"
stop_kubernetes_processes

# --- 4. host networking ------------------------------------------------------------------
sysctl -qw net.ipv4.ip_forward=1
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || modprobe br_netfilter 2>/dev/null || true
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || die "br_netfilter is missing (no /proc/sys/net/bridge)"
sysctl -qw net.bridge.bridge-nf-call-iptables=1
sysctl -qw net.bridge.bridge-nf-call-ip6tables=1 2>/dev/null || true
sysctl -qw fs.inotify.max_user_instances=1024 fs.inotify.max_user_watches=524288 2>/dev/null || true

# The node's address: fixed, on an interface of its own, so certificates and kubeconfigs
# do not depend on eth0 and all traffic stays on this machine. No dummy driver: on lo.
if ! ip -o addr show | grep -q " inet $NODE_IP/"; then
  if ip link add "$NODE_IFACE" type dummy 2>/dev/null; then
    ip addr add "$NODE_IP/32" dev "$NODE_IFACE"
    ip link set "$NODE_IFACE" up
    log "node address $NODE_IP on dummy interface $NODE_IFACE"
  else
    ip addr add "$NODE_IP/32" dev lo
    log "node address $NODE_IP on lo (this kernel has no dummy interfaces)"
  fi
fi

mkdir -p /etc/cni/net.d
cat >"$CNI_CONF.new" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
mv "$CNI_CONF.new" "$CNI_CONF"

# Docker sets the FORWARD policy to DROP: let pod traffic through.
for dir in -s -d; do
  iptables -C FORWARD "$dir" "$CLUSTER_CIDR" -m comment --comment flowrun-pods -j ACCEPT 2>/dev/null \
    || iptables -I FORWARD 1 "$dir" "$CLUSTER_CIDR" -m comment --comment flowrun-pods -j ACCEPT
done

# --- 5. container runtime, then pod leftovers --------------------------------------------
start_containerd
remove_pod_containers
start_dockerd
clean_node_state
ensure_pause_image

# --- 6. certificates and kubeconfigs (kept while the recipe's addresses are unchanged) ----
PKI_STAMP=$(printf '%s %s %s %s' "$K8S_VERSION" "$NODE_IP" "$NODE_NAME" "$SERVICE_CIDR" | sha256sum | cut -c1-16)
if [ "$(cat "$PKI_DIR/.stamp" 2>/dev/null)" != "$PKI_STAMP" ] || [ ! -s "$ADMIN_KUBECONFIG" ]; then
  log "generating certificates and kubeconfigs (kubeadm init phase certs/kubeconfig)"
  tmp="$STATE_DIR/pki.new"
  rm -rf "$tmp"
  mkdir -p "$tmp/kubeconfig"
  kubeadm_conf() {  # CERTDIR
    cat <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: $NODE_IP
  bindPort: 6443
nodeRegistration:
  name: $NODE_NAME
  criSocket: unix://$CONTAINERD_SOCK
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: flowrun
kubernetesVersion: $K8S_VERSION
certificatesDir: $1
controlPlaneEndpoint: $NODE_IP:6443
networking:
  serviceSubnet: $SERVICE_CIDR
  podSubnet: $CLUSTER_CIDR
  dnsDomain: cluster.local
apiServer:
  certSANs: [$NODE_IP, 127.0.0.1, localhost, $NODE_NAME]
EOF
  }
  kubeadm_conf "$tmp" >"$tmp/kubeadm.yaml"
  "$K8S_BIN/kubeadm" init phase certs all --config "$tmp/kubeadm.yaml" >"$LOG_DIR/kubeadm.log" 2>&1 \
    || { cat "$LOG_DIR/kubeadm.log" >&2; die "kubeadm init phase certs failed"; }
  "$K8S_BIN/kubeadm" init phase kubeconfig all --config "$tmp/kubeadm.yaml" \
    --kubeconfig-dir "$tmp/kubeconfig" >>"$LOG_DIR/kubeadm.log" 2>&1 \
    || { cat "$LOG_DIR/kubeadm.log" >&2; die "kubeadm init phase kubeconfig failed"; }
  "$K8S_BIN/kubeadm" kubeconfig user --config "$tmp/kubeadm.yaml" --client-name system:kube-proxy \
    >"$tmp/kubeconfig/kube-proxy.conf" 2>>"$LOG_DIR/kubeadm.log" \
    || { cat "$LOG_DIR/kubeadm.log" >&2; die "kubeadm kubeconfig user failed"; }
  kubeadm_conf "$PKI_DIR" >"$tmp/kubeadm.yaml"
  echo "$PKI_STAMP" >"$tmp/.stamp"
  rm -rf "$PKI_DIR"
  mv "$tmp" "$PKI_DIR"
  chmod 600 "$KCFG_DIR"/*.conf
fi

# --- 7. control plane --------------------------------------------------------------------
log "starting etcd $ETCD_VERSION (fresh data dir)"
start_bg etcd "$ETCD_BIN/etcd" --name "$NODE_NAME" --data-dir "$ETCD_DATA" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --initial-cluster-state new \
  --listen-metrics-urls http://127.0.0.1:2381 --unsafe-no-fsync --log-level warn
wait_until 60 etcd curl -fsS http://127.0.0.1:2379/health || die "etcd did not become healthy; see $LOG_DIR/etcd.log"

P="$PKI_DIR"
log "starting kube-apiserver on https://$NODE_IP:6443"
start_bg kube-apiserver "$K8S_BIN/kube-apiserver" \
  --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port=6443 \
  --etcd-servers=http://127.0.0.1:2379 \
  --client-ca-file="$P/ca.crt" \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
  --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$P/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --allow-privileged=true \
  --requestheader-client-ca-file="$P/front-proxy-ca.crt" \
  --proxy-client-cert-file="$P/front-proxy-client.crt" --proxy-client-key-file="$P/front-proxy-client.key" \
  --requestheader-allowed-names=front-proxy-client --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --requestheader-group-headers=X-Remote-Group --requestheader-username-headers=X-Remote-User \
  --profiling=false
wait_until 120 kube-apiserver apiserver_ready || die "kube-apiserver did not become ready; see $LOG_DIR/kube-apiserver.log"
log "kube-apiserver ready"
# admin.conf's user is in group kubeadm:cluster-admins; kubeadm init would bind it.
kc create clusterrolebinding kubeadm:cluster-admins --clusterrole=cluster-admin \
  --group=kubeadm:cluster-admins >/dev/null

log "starting kube-controller-manager and kube-scheduler"
start_bg kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$KCFG_DIR/controller-manager.conf" \
  --authentication-kubeconfig="$KCFG_DIR/controller-manager.conf" \
  --authorization-kubeconfig="$KCFG_DIR/controller-manager.conf" \
  --bind-address=127.0.0.1 --leader-elect=false --cluster-name=flowrun \
  --client-ca-file="$P/ca.crt" --requestheader-client-ca-file="$P/front-proxy-ca.crt" \
  --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
  --root-ca-file="$P/ca.crt" --service-account-private-key-file="$P/sa.key" \
  --use-service-account-credentials=true --controllers='*,bootstrapsigner,tokencleaner' \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDR" --node-cidr-mask-size=24 \
  --enable-hostpath-provisioner=true
start_bg kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$KCFG_DIR/scheduler.conf" \
  --authentication-kubeconfig="$KCFG_DIR/scheduler.conf" \
  --authorization-kubeconfig="$KCFG_DIR/scheduler.conf" \
  --bind-address=127.0.0.1 --leader-elect=false

# The host-path provisioner makes each volume directory root-owned 0750, and hostPath
# volumes get no fsGroup ownership change: non-root pods could not write. This helper
# makes every new directory under /tmp/hostpath_pv world-writable within milliseconds of
# its creation (inotify), long before a pod can mount it.
# One watch for good (-m), its events read line by line (stdbuf: not held in a pipe
# buffer), the directories made before it was established fixed once it is. (It used to
# scan, then start a new one-shot watch: a volume made in that gap, as when two runs are
# applied back to back, stayed 0750 for up to 5 s, and its runner failed with
# PermissionError on /cache/runs/.../tasks.)
mkdir -p "$HOSTPATH_PV_DIR"
start_bg_sh pv-perms "
d='$HOSTPATH_PV_DIR'
fix_all() { find \"\$d\" -mindepth 1 -maxdepth 1 -type d ! -perm -0777 -exec chmod 0777 {} + 2>/dev/null; }
while :; do
  mkdir -p \"\$d\"
  if command -v inotifywait >/dev/null; then
    stdbuf -oL inotifywait -m -e create -e moved_to --format '%f' \"\$d\" 2>&1 | while IFS= read -r line; do
      case \"\$line\" in
        'Setting up watches.') ;;
        'Watches established.') fix_all ;;
        *) [ -d \"\$d/\$line\" ] && chmod 0777 \"\$d/\$line\" 2>/dev/null ;;
      esac
    done
  else
    fix_all; sleep 0.2
  fi
done"

# --- 8. node -----------------------------------------------------------------------------
cat >"$CONF_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
# Images cannot be pulled again here: image garbage collection off (100 %).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
volumePluginDir: $KUBELET_ROOT/volume-plugins
maxPods: 110
EOF
log "starting kubelet (node $NODE_NAME, $NODE_IP)"
start_bg kubelet "$K8S_BIN/kubelet" --config="$CONF_DIR/kubelet.yaml" \
  --kubeconfig="$KCFG_DIR/kubelet.conf" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
  --root-dir="$KUBELET_ROOT"

cat >"$CONF_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $KCFG_DIR/kube-proxy.conf
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $NODE_NAME
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
log "starting kube-proxy (iptables)"
start_bg kube-proxy "$K8S_BIN/kube-proxy" --config="$CONF_DIR/kube-proxy.yaml"

# --- 9. cluster objects, then wait -------------------------------------------------------
kc apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF

log "waiting for node $NODE_NAME to be Ready"
wait_until 180 node node_ready || die "node not Ready; see $LOG_DIR/kubelet.log and $LOG_DIR/containerd.log"
log "waiting for the default ServiceAccount and the kubernetes Service rules"
wait_until 90 sa kc -n default get serviceaccount default || die "no default ServiceAccount; see $LOG_DIR/kube-controller-manager.log"
wait_until 60 proxy bash -c "iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q 'default/kubernetes:https'" \
  || die "kube-proxy did not program the kubernetes Service; see $LOG_DIR/kube-proxy.log"
echo "$STAMP" >"$RUN_DIR/cluster.stamp"
finish
