#!/usr/bin/env bash
# Builds CoreDNS from its Go module (github.com/coredns/coredns at the version pinned in
# dns-versions.sh) with only the plugins the test cluster uses, into the cache outside the
# repository (beside the Kubernetes binaries). A second run finds it and returns at once.
#
# The build is niced and runs one compile at a time (-p 1): it may happen while a test run
# or another build shares this 2-core machine. Cold: about N minutes (see docs/cluster.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"
# shellcheck source=dns-versions.sh
. "$here/dns-versions.sh"

log() { printf '[build-coredns %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

export GOFLAGS="-buildvcs=false -p=1"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

out="$COREDNS_BIN" mod="$CACHE_ROOT/src/coredns-$COREDNS_VERSION"
if [ -x "$out/coredns" ] && [ "$(cat "$out/plugins" 2>/dev/null)" = "$COREDNS_PLUGINS" ]; then
  log "coredns $COREDNS_VERSION: cached in $out"
  exit 0
fi
mkdir -p "$mod" "$out"
cat >"$mod/go.mod" <<GOMOD
module flowrun.local/corednsbuild

go 1.26

require github.com/coredns/coredns $COREDNS_VERSION
GOMOD
{
  cat <<'GO'
// A CoreDNS with a chosen set of plugins: the way CoreDNS documents building one without
// editing plugin.cfg (import the plugins, keep their directives, run coremain).
package main

import (
	"slices"
	"strings"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
GO
  for p in $COREDNS_PLUGINS; do printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"; done
  cat <<GO
)

const plugins = "$COREDNS_PLUGINS"

func init() {
	keep := strings.Fields(plugins)
	dnsserver.Directives = slices.DeleteFunc(dnsserver.Directives, func(d string) bool {
		return !slices.Contains(keep, d)
	})
}

func main() { coremain.Run() }
GO
} >"$mod/main.go"
t0=$SECONDS
log "coredns $COREDNS_VERSION: resolving modules"
(cd "$mod" && nice -n 15 go mod tidy >/dev/null 2>"$mod/tidy.log") || { grep -v '^go: downloading' "$mod/tidy.log" >&2; exit 1; }
log "coredns $COREDNS_VERSION: building ($COREDNS_PLUGINS; niced, one package at a time)"
(cd "$mod" && nice -n 15 go build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
  -o "$out/coredns.tmp" .)
mv "$out/coredns.tmp" "$out/coredns"
echo "$COREDNS_PLUGINS" >"$out/plugins"
log "coredns $COREDNS_VERSION: built in $((SECONDS - t0)) s ($out/coredns)"
