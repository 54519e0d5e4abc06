#!/usr/bin/env bash
# load-image.sh IMAGE...: makes Docker images visible to the kubelet of the local test
# cluster: `docker save | ctr -n k8s.io images import`, skipped when the same image ID is
# already there (kept as the label flowrun.image-id). Pods then use imagePullPolicy
# IfNotPresent or Never with these exact (versioned, never :latest) tags.
set -euo pipefail
LOG_TAG=load-image
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ $# -gt 0 ] || { echo "usage: $0 IMAGE..." >&2; exit 2; }
containerd_ok || die "containerd is not running (run tests/cluster/cluster-up.sh)"
for ref in "$@"; do load_image_into_containerd "$ref"; done
