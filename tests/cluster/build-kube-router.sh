#!/usr/bin/env bash
# Builds kube-router from its Go module (github.com/cloudnativelabs/kube-router/v2 at the
# version pinned below) into the cache outside the repository, beside the Kubernetes
# binaries. Only its network-policy controller is used, and only by one e2e test
# (tests/e2e/adversarial/test_adv_network_policy.py, through netpol-enforce.sh): the
# cluster's own networking stays the CNI bridge plugin and kube-proxy. A second run finds
# the binary and returns at once.
#
# v2.1.0 is the only version the Go module proxy reachable here serves (newer ones answer
# 403 "not available"); security flaws are reported for it. Acceptable for a test-only
# enforcement component that runs minutes at a time on a node with no outside traffic;
# never ship it. See docs/cluster.md.
#
# The build is niced and runs one compile at a time (-p 1): it may happen while a test run
# or another build shares this 2-core machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
KUBE_ROUTER_BIN="${KUBE_ROUTER_BIN:-$CACHE_ROOT/kube-router-$KUBE_ROUTER_VERSION/bin}"

log() { printf '[build-kube-router %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# kube-router's firewall needs the ipset tool (Debian's package), besides iptables.
# shellcheck source=lib.sh
( . "$here/lib.sh"; ensure_packages ipset )

export GOFLAGS="-buildvcs=false -p=1 -mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

out="$KUBE_ROUTER_BIN"
if [ -x "$out/kube-router" ]; then
  log "kube-router $KUBE_ROUTER_VERSION: cached in $out"
  exit 0
fi
mkdir -p "$out"
t0=$SECONDS
log "kube-router $KUBE_ROUTER_VERSION: fetching the module"
dir=$(go mod download -json "github.com/cloudnativelabs/kube-router/v2@$KUBE_ROUTER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { log "module download failed"; exit 1; }
# The module's own go.mod and go.sum pin its dependencies; build in a writable copy.
src="$CACHE_ROOT/src/kube-router-$KUBE_ROUTER_VERSION"
rm -rf "$src"
mkdir -p "$(dirname "$src")"
cp -r "$dir" "$src"
chmod -R u+w "$src"
log "kube-router $KUBE_ROUTER_VERSION: building cmd/kube-router (niced, one package at a time)"
(cd "$src" && nice -n 15 go build -trimpath \
  -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
  -o "$out/kube-router.tmp" ./cmd/kube-router)
mv "$out/kube-router.tmp" "$out/kube-router"
log "kube-router $KUBE_ROUTER_VERSION: built in $((SECONDS - t0)) s ($out/kube-router)"
