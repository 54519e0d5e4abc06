# Shared shell functions of the test-cluster scripts (sourced, not run).
# Everything here acts only on what these scripts create: processes found by their PID
# files or by their executable's path (our cached binaries, /usr/bin/containerd,
# /usr/sbin/dockerd), the flowrun-pods CNI network, the k8s.io containerd namespace and
# the state directory below.
# shellcheck shell=bash

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
. "$CLUSTER_DIR/versions.sh"

# --- layout -----------------------------------------------------------------------------
STATE_DIR="${FLOWRUN_CLUSTER_STATE:-/var/lib/flowrun-cluster}"   # outside the repository
RUN_DIR="$STATE_DIR/run"          # PID files and stamps
LOG_DIR="$STATE_DIR/logs"         # one log per process
PKI_DIR="$STATE_DIR/pki"          # kubeadm certificates; kubeconfigs in $PKI_DIR/kubeconfig
KCFG_DIR="$PKI_DIR/kubeconfig"
ETCD_DATA="$STATE_DIR/etcd"       # fresh on every (re)start of the cluster
KUBELET_ROOT="$STATE_DIR/kubelet" # kubelet --root-dir, wiped on every (re)start
CONF_DIR="$STATE_DIR/conf"        # generated component configs
IMAGE_CACHE="$CACHE_ROOT/images"  # saved image tarballs (pause, base rootfs)

NODE_NAME="flowrun-node"
NODE_IP="${FLOWRUN_NODE_IP:-10.250.0.1}"   # on dummy interface flowrun0 (or lo as fallback)
NODE_IFACE="flowrun0"
POD_CIDR="10.244.0.0/24"
CLUSTER_CIDR="10.244.0.0/16"
SERVICE_CIDR="10.96.0.0/12"
CNI_NET="flowrun-pods"
CNI_CONF="/etc/cni/net.d/10-flowrun-pods.conflist"
HOSTPATH_PV_DIR="/tmp/hostpath_pv"   # fixed in kube-controller-manager's host-path provisioner

CONTAINERD_SOCK="/run/containerd/containerd.sock"
CONTAINERD_CONF="$STATE_DIR/containerd/config.toml"
DOCKER_PIDFILE="/var/run/docker.pid"

KUBECTL="$K8S_BIN/kubectl"
CTR="ctr --address $CONTAINERD_SOCK"

# Progress goes to stderr: stdout of cluster-up.sh carries only its `export KUBECONFIG=...`.
log() { printf '[%s %s] %s\n' "${LOG_TAG:-cluster}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*" >&2; exit 1; }

# --- packages ---------------------------------------------------------------------------
APT_UPDATED=""
ensure_packages() {  # pkg... : apt-get install the missing ones (update first, once)
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then apt-get update -qq >/dev/null 2>&1 || true; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >"${TMPDIR:-/tmp}/flowrun-apt.log" 2>&1 || { cat "${TMPDIR:-/tmp}/flowrun-apt.log" >&2; die "apt-get install failed"; }
}

# --- processes --------------------------------------------------------------------------
# pid_of NAME EXE: the PID from $RUN_DIR/NAME.pid if that process is alive and runs EXE.
pid_of() {
  local name=$1 exe=$2 pid
  [ -f "$RUN_DIR/$name.pid" ] || return 1
  pid=$(cat "$RUN_DIR/$name.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  exe_is "$pid" "$exe" || return 1
  echo "$pid"
}

exe_is() {  # PID EXE: true if /proc/PID/exe is EXE (also when EXE was replaced on disk)
  local e
  e=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [ "${e% (deleted)}" = "$2" ]
}

pids_by_exe() {  # EXE: every live PID whose executable is EXE
  local d
  for d in /proc/[0-9]*; do
    exe_is "${d#/proc/}" "$1" && echo "${d#/proc/}"
  done
  return 0
}

# start_bg NAME EXE ARGS...: start detached (own session), log to $LOG_DIR/NAME.log.
start_bg() {
  local name=$1; shift
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  printf '\n===== %s start %s\n' "$(date -Is)" "$*" >>"$LOG_DIR/$name.log"
  # 9>&-: do not hand cluster-up's lock file descriptor down to the daemons.
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN_DIR/$name.pid"
}

# start_bg_sh NAME SCRIPT: a detached bash loop (for the PV permission helper).
start_bg_sh() {
  local name=$1 script=$2
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  setsid bash -c "# flowrun-helper:$name
$script" >>"$LOG_DIR/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN_DIR/$name.pid"
}

kill_pids() {  # TIMEOUT PID...: SIGTERM, wait up to TIMEOUT s, then SIGKILL
  local t=$1; shift
  [ $# -eq 0 ] && return 0
  kill -TERM "$@" 2>/dev/null || true
  local i alive
  for ((i = 0; i < t * 10; i++)); do
    alive=0
    for p in "$@"; do [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
  sleep 0.2
}

# stop_component NAME EXE [TIMEOUT]: stop by PID file, and any stray process running EXE.
stop_component() {
  local name=$1 exe=$2 t=${3:-10} pids=()
  local pid
  pid=$(pid_of "$name" "$exe") && pids+=("$pid")
  for pid in $(pids_by_exe "$exe"); do
    [[ " ${pids[*]} " == *" $pid "* ]] || pids+=("$pid")
  done
  if [ ${#pids[@]} -gt 0 ]; then
    log "stopping $name (pid ${pids[*]})"
    kill_pids "$t" "${pids[@]}"
  fi
  rm -f "$RUN_DIR/$name.pid"
}

stop_helper() {  # NAME: a bash helper loop started by start_bg_sh
  local pid
  [ -f "$RUN_DIR/$1.pid" ] || return 0
  pid=$(cat "$RUN_DIR/$1.pid")
  if [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q "flowrun-helper:$1" "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || true   # its process group (setsid), children too
    kill_pids 3 "$pid"
  fi
  rm -f "$RUN_DIR/$1.pid"
}

wait_until() {  # TIMEOUT WHAT CMD...: poll CMD every 0.5 s
  local t=$1 what=$2; shift 2
  local deadline=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.5
  done
}

# --- container runtime ------------------------------------------------------------------
write_containerd_config() {
  mkdir -p "$(dirname "$CONTAINERD_CONF")"
  cat >"$CONTAINERD_CONF.new" <<EOF
# Written by tests/cluster/lib.sh. One containerd serves the kubelet (CRI, namespace
# k8s.io) and dockerd (namespace moby).
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # These machines lack CAP_SYS_RESOURCE: a negative oom_score_adj (the kubelet asks -998
  # for sandboxes, -997 for Guaranteed pods) makes runc fail with "can't get final child's
  # PID from pipe: EOF". Clamp to containerd's own score (0) instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"

[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"
EOF
  mv "$CONTAINERD_CONF.new" "$CONTAINERD_CONF"
}

containerd_ok() { $CTR version >/dev/null 2>&1; }
docker_ok() { timeout 10 docker info >/dev/null 2>&1; }

# The config's hash is kept beside the PID file: a running containerd with another config
# (or one we did not start) is restarted with ours.
start_containerd() {
  write_containerd_config
  local want have pid
  want=$(sha256sum "$CONTAINERD_CONF" | cut -c1-16)
  have=$(cat "$RUN_DIR/containerd.confhash" 2>/dev/null || true)
  if pid=$(pid_of containerd /usr/bin/containerd) && [ "$want" = "$have" ] && containerd_ok; then
    return 0
  fi
  stop_component containerd /usr/bin/containerd 15
  log "starting containerd"
  mkdir -p /run/containerd
  start_bg containerd /usr/bin/containerd --config "$CONTAINERD_CONF"
  echo "$want" >"$RUN_DIR/containerd.confhash"
  wait_until 30 containerd containerd_ok || die "containerd did not come up; see $LOG_DIR/containerd.log"
}

start_dockerd() {
  if pid_of dockerd /usr/sbin/dockerd >/dev/null && docker_ok; then return 0; fi
  stop_component dockerd /usr/sbin/dockerd 15
  # A PID file left by a killed dockerd makes it refuse to start only if that PID lives.
  rm -f "$DOCKER_PIDFILE"
  log "starting dockerd (on containerd $CONTAINERD_SOCK)"
  start_bg dockerd /usr/sbin/dockerd --containerd="$CONTAINERD_SOCK" --pidfile="$DOCKER_PIDFILE" \
    --log-level=warn
  wait_until 60 dockerd docker_ok || die "dockerd did not come up; see $LOG_DIR/dockerd.log"
}

# ctr_image_name REF: the name containerd stores for a Docker reference.
ctr_image_name() {
  local ref=$1 first=${1%%/*}
  if [[ "$ref" != */* ]]; then ref="docker.io/library/$ref"
  elif [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; then ref="docker.io/$ref"
  fi
  local last=${ref##*/}
  [[ "$last" == *:* || "$last" == *@* ]] || ref="$ref:latest"
  echo "$ref"
}

# load_image_into_containerd REF: docker save | ctr import, skipped when the image ID
# (Docker's config digest, kept as a label) is already there.
load_image_into_containerd() {
  local ref=$1 id name have
  id=$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null) || die "image $ref is not in Docker"
  name=$(ctr_image_name "$ref")
  have=$($CTR -n k8s.io images ls "name==$name" 2>/dev/null | awk 'NR>1{print $NF}' | tr ',' '\n' \
    | sed -n 's/^flowrun.image-id=//p')
  if [ "$have" = "$id" ]; then
    log "image $ref already in containerd (k8s.io)"
    return 0
  fi
  log "loading image $ref into containerd (k8s.io)"
  docker save "$ref" | $CTR -n k8s.io images import - >/dev/null
  $CTR -n k8s.io images label "$name" "flowrun.image-id=$id" >/dev/null
}

# --- pause image ------------------------------------------------------------------------
# The kubelet's sandbox image, made from Debian's static busybox (no registry needed).
ensure_pause_image() {
  local name
  name=$(ctr_image_name "$PAUSE_IMAGE")
  if $CTR -n k8s.io images ls -q "name==$name" 2>/dev/null | grep -qx "$name"; then return 0; fi
  if ! docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1; then
    log "building pause image $PAUSE_IMAGE from busybox-static"
    local d
    d=$(mktemp -d)
    mkdir -p "$d/bin"
    cp /bin/busybox "$d/bin/busybox"
    ln -s busybox "$d/bin/sh"
    ln -s busybox "$d/bin/sleep"
    tar -C "$d" -c . | docker import \
      -c 'ENTRYPOINT ["/bin/sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]' \
      - "$PAUSE_IMAGE" >/dev/null
    rm -rf "$d"
  fi
  load_image_into_containerd "$PAUSE_IMAGE"
}

# --- cleanup of whatever a previous (possibly killed) cluster left ----------------------
stop_kubernetes_processes() {
  stop_helper pv-perms
  stop_component kubelet "$K8S_BIN/kubelet" 15
  stop_component kube-proxy "$K8S_BIN/kube-proxy"
  stop_component kube-scheduler "$K8S_BIN/kube-scheduler"
  stop_component kube-controller-manager "$K8S_BIN/kube-controller-manager"
  stop_component kube-apiserver "$K8S_BIN/kube-apiserver" 15
  stop_component etcd "$ETCD_BIN/etcd" 15
  rm -f "$RUN_DIR/cluster.stamp"
}

# Removes every container of the k8s.io namespace (pods of a previous cluster). Images stay.
# Returns 1 when there was nothing to remove.
delete_pod_containers() {
  containerd_ok || return 1
  local ids id
  ids=$($CTR -n k8s.io containers ls -q 2>/dev/null || true)
  [ -z "$ids" ] && return 1
  log "removing $(echo "$ids" | wc -l) pod containers"
  for id in $ids; do $CTR -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  sleep 0.5
  for id in $ids; do
    $CTR -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
    $CTR -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
  done
  return 0
}

# ... then restart containerd so its CRI plugin forgets those sandboxes too.
remove_pod_containers() {
  if delete_pod_containers; then
    stop_component containerd /usr/bin/containerd 15
    start_containerd
  fi
}

umount_under() {  # DIR: unmount everything mounted at or below DIR, deepest first
  local dir=$1 m
  [ -d "$dir" ] || return 0
  for m in $(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

clean_node_state() {
  # Network namespaces of CRI sandboxes (cni-<uuid>), pinned by bind mounts.
  local ns
  for ns in /run/netns/cni-*; do
    [ -e "$ns" ] || continue
    umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
    rm -f "$ns"
  done
  umount_under "$KUBELET_ROOT"
  if [ -d "$KUBELET_ROOT" ]; then
    rm -rf --one-file-system "$KUBELET_ROOT" || die "cannot remove $KUBELET_ROOT (still mounted?)"
  fi
  # CNI: the bridge, host-local allocations, cached results, masquerade chains.
  ip link del cni0 2>/dev/null || true
  rm -rf "/var/lib/cni/networks/$CNI_NET"
  rm -f /var/lib/cni/results/"$CNI_NET"-* 2>/dev/null || true
  local chain
  for chain in $(iptables -t nat -S POSTROUTING 2>/dev/null | grep -F "name: \\\"$CNI_NET\\\"" \
      | grep -o -- '-j CNI-[0-9a-f]*' | awk '{print $2}' | sort -u); do
    iptables -t nat -S POSTROUTING | grep -F -- "-j $chain" | sed 's/^-A /-D /' | while read -r rule; do
      # shellcheck disable=SC2086
      eval iptables -t nat $rule 2>/dev/null || true
    done
    iptables -t nat -F "$chain" 2>/dev/null || true
    iptables -t nat -X "$chain" 2>/dev/null || true
  done
  # kube-proxy's own chains (KUBE-*), removed by kube-proxy itself.
  if [ -x "$K8S_BIN/kube-proxy" ] && iptables-save 2>/dev/null | grep -q 'KUBE-'; then
    "$K8S_BIN/kube-proxy" --cleanup >>"$LOG_DIR/kube-proxy-cleanup.log" 2>&1 || true
  fi
  # Data of a previous cluster: etcd and host-path volumes (their PVs died with etcd).
  rm -rf "$ETCD_DATA" "$HOSTPATH_PV_DIR"
}
