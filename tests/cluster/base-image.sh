#!/usr/bin/env bash
# Builds the Python base image the test pods (and the project's images) start FROM:
#   debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates SUITE
#   + docker import  ->  flowrun-python-base:<python>-<suite>-<BASE_IMAGE_REV>
# No registry is reachable here, so this replaces python:3.11-slim. The rootfs tarball is
# kept in the cache (keyed by suite and revision): a lost Docker store re-imports it in
# seconds; the debootstrap (about a minute) runs once per machine.
# Prints the image reference as the LAST line of stdout (progress goes to stderr).
set -euo pipefail
LOG_TAG=base-image
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

# Bump BASE_IMAGE_REV when the recipe below changes: it is part of the cache key and tag.
BASE_IMAGE_REV=1
PY_TAG="3.11"   # python3 of Debian bookworm
# The Debian mirror this machine's apt uses (deb822 or classic sources), unless
# DEBIAN_MIRROR names one.
MIRROR="${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 || true)}"
MIRROR="${MIRROR:-$(sed -n 's/^deb  *\(http[^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 || true)}"
[ -n "$MIRROR" ] || die "no Debian mirror found in apt's sources; set DEBIAN_MIRROR=<mirror URL>"
REF="flowrun-python-base:$PY_TAG-$DEBIAN_SUITE-$BASE_IMAGE_REV"
TARBALL="$IMAGE_CACHE/python-base-$DEBIAN_SUITE-$BASE_IMAGE_REV.tar"

{
  if docker image inspect "$REF" >/dev/null 2>&1; then
    log "$REF is in Docker"
  else
    if [ ! -s "$TARBALL" ]; then
      ensure_packages debootstrap
      mkdir -p "$IMAGE_CACHE"
      rootfs=$(mktemp -d "$IMAGE_CACHE/rootfs.XXXXXX")
      trap 'rm -rf "$rootfs"' EXIT
      log "debootstrap $DEBIAN_SUITE minbase + python3 (about a minute) from $MIRROR"
      debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        "$DEBIAN_SUITE" "$rootfs" "$MIRROR" >"$IMAGE_CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$IMAGE_CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
      # Slim it: apt lists, caches and docs are not needed at run time.
      rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
      tar --numeric-owner -C "$rootfs" -cf "$TARBALL.tmp" .
      mv "$TARBALL.tmp" "$TARBALL"
    fi
    log "importing $TARBALL as $REF"
    docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV LANG=C.UTF-8' -c 'ENV PYTHONUNBUFFERED=1' \
      -c 'CMD ["python3"]' \
      "$TARBALL" "$REF" >/dev/null
  fi
} >&2
echo "$REF"
