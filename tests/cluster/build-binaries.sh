#!/usr/bin/env bash
# Builds the Kubernetes control-plane and node binaries, etcd, helm and kubeconform from
# Go modules, at pinned versions, into a cache outside the repository keyed by version.
# A second run finds the cache and returns in milliseconds.
#
# Why from source: no container registry (and so no kind node image, no release
# tarballs) is reachable here; the Go module proxy is. See docs/cluster.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"

log() { printf '[build-binaries %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

build_kubernetes() {
  local out="$K8S_BIN" mod="$CACHE_ROOT/src/kubernetes-$K8S_VERSION"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)
  local missing=()
  for b in "${bins[@]}"; do [ -x "$out/$b" ] || missing+=("$b"); done
  [ ${#missing[@]} -eq 0 ] && { log "kubernetes $K8S_VERSION: cached in $out"; return; }
  mkdir -p "$mod" "$out"
  local staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
    cloud-provider cluster-bootstrap code-generator component-base component-helpers
    controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation
    endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
    kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission
    sample-apiserver sample-cli-plugin sample-controller)
  local sv="v0.${K8S_VERSION#v1.}"
  {
    echo "module flowrun.local/k8sbuild"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    for m in "${staging[@]}"; do echo "replace k8s.io/$m => k8s.io/$m $sv"; done
  } > "$mod/go.mod"
  cat > "$mod/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  log "kubernetes $K8S_VERSION: resolving modules (first time: downloads about 1.5 GB)"
  # No -e: a module the proxy will not serve must fail here, loudly, not later in go build.
  (cd "$mod" && go mod tidy >/dev/null 2>"$mod/tidy.log") || { grep -v '^go: downloading' "$mod/tidy.log" >&2; exit 1; }
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=0000000000000000000000000000000000000000"
  done
  for b in "${missing[@]}"; do
    log "kubernetes $K8S_VERSION: building $b (each link needs ~2 GiB; minutes on 2 cores)"
    local t0=$SECONDS
    (cd "$mod" && go build -trimpath -p 2 -tags tools -ldflags "$ld" -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b")
    mv "$out/$b.tmp" "$out/$b"
    log "kubernetes $K8S_VERSION: built $b in $((SECONDS - t0)) s"
  done
  log "kubernetes $K8S_VERSION: done in $out"
}

build_etcd() {
  [ -x "$ETCD_BIN/etcd" ] && { log "etcd $ETCD_VERSION: cached"; return; }
  local mod="$CACHE_ROOT/src/etcd-$ETCD_VERSION"
  mkdir -p "$mod" "$ETCD_BIN"
  cat > "$mod/go.mod" <<GOMOD
module flowrun.local/etcdbuild

go 1.23

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat > "$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  log "etcd $ETCD_VERSION: resolving modules"
  (cd "$mod" && go mod tidy >/dev/null 2>"$mod/tidy.log") || { grep -v '^go: downloading' "$mod/tidy.log" >&2; exit 1; }
  log "etcd $ETCD_VERSION: building"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$ETCD_BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$ETCD_BIN/etcd.tmp" "$ETCD_BIN/etcd"
}

build_tool() {  # name version package ldflags
  local name=$1 version=$2 pkg=$3 ld=$4 dir="$CACHE_ROOT/$1-$2/bin"
  [ -x "$dir/$name" ] && { log "$name $version: cached"; return; }
  log "$name $version: building"
  mkdir -p "$dir"
  GOBIN="$dir" go install -trimpath -ldflags "-s -w $ld" "$pkg@$version"
}

what="${1:-all}"
case "$what" in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  helm) build_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" ;;
  kubeconform) build_tool kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform "" ;;
  # Only for the scale benchmark and its small e2e run (not part of `all`: the cluster
  # does not need it). `go install`, not kwokctl (which downloads release binaries).
  kwok) build_tool kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok "" ;;
  all)
    build_etcd
    build_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    build_tool kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform ""
    build_kubernetes ;;
  *) echo "usage: $0 [all|kubernetes|etcd|helm|kubeconform|kwok]" >&2; exit 2 ;;
esac
