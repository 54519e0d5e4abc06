# Pinned versions of everything the test cluster is built from, and where the builds are
# cached (outside the repository, keyed by version). Sourced by the cluster scripts.
# v1.33.4, not v1.33.5: the Go module proxy reachable here serves k8s.io/kubernetes v1.33.5
# but not all of its v0.33.5 staging modules (kube-controller-manager, endpointslice,
# externaljwt, sample-*: 403 "not available"; cloud-provider, cri-client,
# csi-translation-lib: no checksum-database entry). The whole v1.33.4 / v0.33.4 set is
# there and verifies. See docs/cluster.md.
K8S_VERSION="${K8S_VERSION:-v1.33.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.21}"
HELM_VERSION="${HELM_VERSION:-v3.18.6}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
# kwok plays fake nodes and their pods for the scale benchmark and its small e2e run.
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
PAUSE_IMAGE="${PAUSE_IMAGE:-registry.k8s.io/pause:3.6}"

CACHE_ROOT="${FLOWRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flowrun-operator}"
K8S_BIN="$CACHE_ROOT/kubernetes-$K8S_VERSION/bin"
ETCD_BIN="$CACHE_ROOT/etcd-$ETCD_VERSION/bin"
HELM_BIN="$CACHE_ROOT/helm-$HELM_VERSION/bin"
KUBECONFORM_BIN="$CACHE_ROOT/kubeconform-$KUBECONFORM_VERSION/bin"
KWOK_BIN="$CACHE_ROOT/kwok-$KWOK_VERSION/bin"
