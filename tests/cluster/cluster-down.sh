#!/usr/bin/env bash
# cluster-down.sh [--keep-runtime]: stops everything cluster-up.sh started, by PID file
# (and any stray process running one of our binaries), removes the pod containers, the
# kubelet's mounts and root dir, the CNI bridge, IP allocations and iptables chains, the
# etcd data, the host-path volumes, the node address and our FORWARD rules, and CoreDNS
# (dns-up.sh's). Then stops dockerd and containerd, unless --keep-runtime (docker builds go
# on working).
# Kept: certificates (state dir), binaries and images (cache, containerd's store).
# cluster-up.sh works again afterwards; it also copes when this never ran (killed session).
set -euo pipefail
LOG_TAG=cluster-down
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
# shellcheck source=dns-versions.sh
. "$CLUSTER_DIR/dns-versions.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
keep_runtime=""
[ "${1:-}" = --keep-runtime ] && keep_runtime=1
mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR"
exec 9>"$STATE_DIR/.lock"
flock -w 600 9 || die "another cluster-up/cluster-down holds $STATE_DIR/.lock"

stop_component coredns "$COREDNS_BIN/coredns"   # dns-up.sh's
rm -f "$RUN_DIR/coredns.confhash" "$RUN_DIR/kubelet-dns.pid"
stop_kubernetes_processes
delete_pod_containers || true
clean_node_state
rm -f "$CNI_CONF"
for dir in -s -d; do
  while iptables -D FORWARD "$dir" "$CLUSTER_CIDR" -m comment --comment flowrun-pods -j ACCEPT 2>/dev/null; do :; done
done
ip link del "$NODE_IFACE" 2>/dev/null || true
ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
if [ -z "$keep_runtime" ]; then
  stop_component dockerd /usr/sbin/dockerd 20
  stop_component containerd /usr/bin/containerd 15
  rm -f "$RUN_DIR/containerd.confhash"
fi
log "cluster stopped"
