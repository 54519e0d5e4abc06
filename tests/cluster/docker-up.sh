#!/usr/bin/env bash
# Ensures containerd and dockerd run, so `docker build` works (used by `make images` and by
# cluster-up.sh). Idempotent: returns at once when both answer.
#
# There is no init system on these machines, so both run as background processes with
# PID files in /var/lib/flowrun-cluster/run and logs in /var/lib/flowrun-cluster/logs.
# One containerd (socket /run/containerd/containerd.sock, config written by lib.sh) serves
# both dockerd (namespace "moby") and the kubelet's CRI (namespace "k8s.io"), so images
# built by Docker reach the kubelet with a `docker save | ctr import` (load-image.sh).
set -euo pipefail
LOG_TAG=docker-up
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

[ "$(id -u)" = 0 ] || die "must run as root (starts containerd and dockerd)"
ensure_packages docker.io containerd runc iptables
mkdir -p "$RUN_DIR" "$LOG_DIR"
start_containerd
start_dockerd
log "containerd and dockerd are running"
