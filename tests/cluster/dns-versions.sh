# The test cluster's DNS (CoreDNS): pinned version and the plugins compiled in. Sourced by
# dns-up.sh and build-coredns.sh. Kept apart from versions.sh on purpose: versions.sh,
# lib.sh and cluster-up.sh are the recipe whose hash restarts the cluster, and DNS is
# added to a running cluster without restarting it (see dns-up.sh, docs/cluster.md).
# shellcheck shell=bash
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
# A slim build: only what kubeadm's default Corefile uses (plus bind and log). The full
# CoreDNS binary links every cloud backend (Azure, AWS, Google, Datadog...): several
# times the compile time for nothing the test cluster needs. Order does not matter here:
# the build keeps CoreDNS's own plugin order (plugin.cfg).
COREDNS_PLUGINS="bind ready health errors log cache kubernetes loop forward"
COREDNS_BIN="$CACHE_ROOT/coredns-$COREDNS_VERSION/bin"
# The kube-dns Service's address: the tenth of the service range, as kubeadm picks it.
CLUSTER_DNS_IP="10.96.0.10"
CLUSTER_DOMAIN="cluster.local"
