#!/usr/bin/env bash
# cluster-dns.sh CMD...: runs CMD on this machine resolving names as a pod of the test
# cluster does (nameserver: the kube-dns Service, search list of namespace
# $FLOWRUN_DNS_NAMESPACE, default "default", options ndots:5): CMD gets a mount namespace
# of its own in which /etc/resolv.conf is that file; nothing else changes, for CMD or for
# the machine. The e2e tests run the operator this way, since in a real cluster it runs
# in a pod (docs/testing.md). Needs root and dns-up.sh to have run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
# shellcheck source=dns-versions.sh
. "$here/dns-versions.sh"
[ $# -gt 0 ] || { echo "usage: $0 CMD..." >&2; exit 2; }
ns="${FLOWRUN_DNS_NAMESPACE:-default}"
d="$CLUSTER_DOMAIN"
conf=$(mktemp "${TMPDIR:-/tmp}/flowrun-resolv.XXXXXX")
printf 'search %s.svc.%s svc.%s %s\nnameserver %s\noptions ndots:5\n' "$ns" "$d" "$d" "$d" "$CLUSTER_DNS_IP" >"$conf"
chmod 644 "$conf"
# The bind mount keeps the file after its name is removed; the private mount namespace
# (unshare's default propagation) ends with CMD.
exec unshare --mount -- sh -c 'mount --bind "$1" /etc/resolv.conf && rm -f "$1" && shift && exec "$@"' sh "$conf" "$@"
