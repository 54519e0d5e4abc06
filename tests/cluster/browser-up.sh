#!/usr/bin/env bash
# Ensures Debian's chromium is installed for the web UI's browser tests (Playwright drives
# it by its path, /usr/bin/chromium: no browser download). Idempotent: returns at once
# when it is there.
set -euo pipefail
LOG_TAG=browser-up
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

[ -x /usr/bin/chromium ] && exit 0
[ "$(id -u)" = 0 ] || die "chromium is missing and installing it needs root: apt-get install chromium"
ensure_packages chromium
