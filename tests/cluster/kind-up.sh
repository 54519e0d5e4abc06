#!/usr/bin/env bash
# kind-up.sh [IMAGE...]: the test cluster's shape on kind, for machines with Docker and
# internet (a registry for kind's node image). NOT exercised on the project's own
# machines: no registry is reachable there, so the node image cannot be pulled; the suite
# uses cluster-up.sh there. Written against kind v0.29.0; check it when you first use it.
#
#   eval "$(tests/cluster/kind-up.sh)"       # sets KIND_CLUSTER and KUBECONFIG
#   .venv/bin/python -m pytest -m e2e        # the fixtures take this KUBECONFIG
#
# Same shape as cluster-up.sh: one node, pod subnet 10.244.0.0/16 (the local cluster
# uses 10.244.0.0/24 of it), service subnet 10.96.0.0/12, a default StorageClass named
# "standard" (kind's local-path provisioner: world-writable directories, so non-root
# pods can write, as with cluster-up.sh). The Python base image (base-image.sh, or
# FLOWRUN_BASE_IMAGE, e.g. python:3.11-slim) and any IMAGE arguments are loaded with
# `kind load docker-image`. Version: kind's node image for Kubernetes 1.33 (the local
# cluster runs $K8S_VERSION of versions.sh; tests compare major.minor on foreign clusters).
#
# The LAST line of stdout is `export KUBECONFIG=<path>`; progress goes to stderr.
set -euo pipefail
LOG_TAG=kind-up
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

KIND_VERSION="${KIND_VERSION:-v0.29.0}"
KIND_CLUSTER="${KIND_CLUSTER:-flowrun}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.33.1}"   # kind v0.29.0's image for 1.33
KIND_DIR="$CACHE_ROOT/kind-$KIND_VERSION/bin"
KIND="$KIND_DIR/kind"
KIND_KUBECONFIG="$CACHE_ROOT/kind-$KIND_CLUSTER.kubeconfig"

docker info >/dev/null 2>&1 || die "Docker is not reachable (start it; on the project's machines: tests/cluster/docker-up.sh)"
if [ ! -x "$KIND" ]; then
  command -v go >/dev/null || die "Go is needed to install kind ($KIND_VERSION)"
  log "installing kind $KIND_VERSION into $KIND_DIR"
  mkdir -p "$KIND_DIR"
  GOBIN="$KIND_DIR" go install "sigs.k8s.io/kind@$KIND_VERSION" >&2
fi

if "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  log "kind cluster $KIND_CLUSTER exists; reusing it"
else
  log "creating kind cluster $KIND_CLUSTER ($KIND_NODE_IMAGE)"
  cfg=$(mktemp)
  cat >"$cfg" <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  podSubnet: "$CLUSTER_CIDR"
  serviceSubnet: "$SERVICE_CIDR"
nodes:
  - role: control-plane
YAML
  "$KIND" create cluster --name "$KIND_CLUSTER" --image "$KIND_NODE_IMAGE" --config "$cfg" --wait 180s >&2
  rm -f "$cfg"
fi
mkdir -p "$(dirname "$KIND_KUBECONFIG")"
"$KIND" get kubeconfig --name "$KIND_CLUSTER" >"$KIND_KUBECONFIG"
chmod 600 "$KIND_KUBECONFIG"

kubectl_bin="$KUBECTL"; [ -x "$kubectl_bin" ] || kubectl_bin=$(command -v kubectl || true)
if [ -n "$kubectl_bin" ]; then
  log "waiting for the node to be Ready and the default ServiceAccount"
  "$kubectl_bin" --kubeconfig "$KIND_KUBECONFIG" wait --for=condition=Ready node --all --timeout=180s >&2
  wait_until 60 sa "$kubectl_bin" --kubeconfig "$KIND_KUBECONFIG" -n default get serviceaccount default \
    || die "no default ServiceAccount"
fi

base="${FLOWRUN_BASE_IMAGE:-}"
if [ -z "$base" ]; then
  base=$("$here/base-image.sh" | tail -1) || die "base-image.sh failed (set FLOWRUN_BASE_IMAGE=python:3.11-slim to skip it)"
elif ! docker image inspect "$base" >/dev/null 2>&1; then
  docker pull "$base" >&2
fi
for img in "$base" "$@"; do
  log "kind load docker-image $img"
  "$KIND" load docker-image --name "$KIND_CLUSTER" "$img" >&2
done

echo "export KIND_CLUSTER=$KIND_CLUSTER"
echo "export KUBECONFIG=$KIND_KUBECONFIG"
