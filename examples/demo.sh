#!/usr/bin/env bash
# The main job (`make demo`): on a fresh machine, bring up the local Kubernetes cluster,
# build and load the images, install the operator with Helm, then run two seed
# scenarios with kubectl and the flowrun CLI:
#   1. greet: pauses waiting for typed input; shown Paused with the expected input,
#      resumed with `flowrun resume greet --input name=Marvin`, result printed;
#   2. suspend: suspends itself after one task; its Job disappears, and reappears as
#      attempt 2 on resume; the first task's stored result is reused.
# Runs live in namespace flowrun-demo; the operator (namespace flowrun-system) watches
# only that namespace, so the demo never touches other runs on the same cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
NS=flowrun-demo
T0=$SECONDS
step() { printf '\n\033[1;36m==> [%s/7] %s\033[0m (%ss)\n' "$1" "$2" "$((SECONDS - T0))"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

step 1 "a local Kubernetes cluster (first time: builds Kubernetes from Go modules, ~10 min)"
eval "$(tests/cluster/cluster-up.sh | tail -n 1)"
tests/cluster/dns-up.sh   # cluster DNS (CoreDNS), as on a real cluster; first time: a build
. tests/cluster/versions.sh
kubectl() { "$K8S_BIN/kubectl" "$@"; }
export PATH="$PWD/.venv/bin:$K8S_BIN:$PATH"

step 2 "Python environment (.venv) with the flowrun CLI"
make --no-print-directory venv

step 3 "images and the Helm chart (operator in flowrun-system, watching $NS)"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# The CRD is applied directly (idempotent; it may exist from the test suite), the chart
# installs the rest.
kubectl apply --server-side --force-conflicts -f crds/flowrun.io_flowruns.yaml >/dev/null
make --no-print-directory deploy DEPLOY_ARGS="--set watchNamespaces={$NS} --set crds.install=false" >/dev/null
show kubectl -n flowrun-system get deploy,svc
# A fresh demo each time: remove runs of an earlier one.
kubectl -n "$NS" delete fr greet suspend --ignore-not-found --wait=true >/dev/null

step 4 "a flow that waits for typed input: examples/manifests/greet.yaml"
show kubectl -n "$NS" apply -f examples/manifests/greet.yaml
show flowrun -n "$NS" wait greet --for Paused --timeout 180
show kubectl -n "$NS" get fr greet
show flowrun -n "$NS" get greet

step 5 "resume it with input"
show flowrun -n "$NS" resume greet --input name=Marvin
show flowrun -n "$NS" wait greet --for Completed --timeout 120
printf 'result: '; kubectl -n "$NS" get fr greet -o jsonpath='{.status.result}'; echo

step 6 "a flow that suspends itself: examples/manifests/suspend.yaml"
show kubectl -n "$NS" apply -f examples/manifests/suspend.yaml
show flowrun -n "$NS" wait suspend --for Suspended --timeout 180
for _ in $(seq 1 60); do
  [ -z "$(kubectl -n "$NS" get jobs,pods -l flowrun.io/run=suspend -o name)" ] && break; sleep 0.5
done
echo "Jobs and pods of the suspended run (none: the infrastructure is torn down):"
show kubectl -n "$NS" get jobs,pods -l flowrun.io/run=suspend
show flowrun -n "$NS" resume suspend
show flowrun -n "$NS" wait suspend --for Completed --timeout 180
# The pod has exited; give the Job controller a moment to mark the Job Complete.
kubectl -n "$NS" wait --for=condition=Complete job/suspend-2 --timeout=30s >/dev/null || true
echo "The Job is back, as attempt 2:"
show kubectl -n "$NS" get jobs -l flowrun.io/run=suspend
printf 'result: '; kubectl -n "$NS" get fr suspend -o jsonpath='{.status.result}'; echo
echo "(body_runs 1: the first task ran once; attempt 2 took its result from the cache)"

step 7 "the web UI: a run waits for you there"
kubectl -n "$NS" apply -f examples/manifests/greet.yaml --dry-run=client -o json \
  | sed 's/"name": "greet"/"name": "greet-ui"/' | kubectl -n "$NS" apply -f - >/dev/null
show flowrun -n "$NS" wait greet-ui --for Paused --timeout 180

step 8 "done"
show kubectl -n "$NS" get fr
echo
echo "Try it yourself:"
echo "  eval \"\$(tests/cluster/cluster-up.sh | tail -n 1)\"; export PATH=\$PWD/.venv/bin:\$PATH"
echo "  kubectl -n $NS describe fr greet        # the Events of every transition"
echo "  flowrun -n $NS ls"
echo
echo "The web UI, as you (your kubeconfig): run this, then open the URL it prints,"
echo "http://127.0.0.1:8080/ (greet-ui waits there for a name; Ctrl-C stops the UI):"
echo "  flowrun -n $NS ui"
