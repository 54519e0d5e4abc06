# flowrun-operator: every entry point a developer, a user or CI needs.
# `make help` lists the targets. Heavy artefacts are cached in ~/.cache/flowrun-operator.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# The images' tag: the version, unless FLOWRUN_IMAGE_TAG names another (so two work
# trees can test on one cluster without replacing each other's images).
IMAGE_TAG := $(or $(FLOWRUN_IMAGE_TAG),$(VERSION))
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
RUNNER_IMAGE := flowrun-runner:$(IMAGE_TAG)
OPERATOR_IMAGE := flowrun-operator:$(IMAGE_TAG)
CLUSTER := tests/cluster
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.stamp: pyproject.toml
	@echo "==> Python environment in $(VENV)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PIP) install --quiet --upgrade pip
	@$(PIP) install --quiet -e '.[test]'
	@touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## create the Python environment (.venv) with the package and test tools

.PHONY: demo
demo: ## the main job: cluster, images, Helm install, a flow paused/resumed with input, a suspend/resume
	@examples/demo.sh

.PHONY: browser
browser: ## install Debian's chromium for the web UI's browser tests (when /usr/bin/chromium is missing)
	@$(CLUSTER)/browser-up.sh

# Test files run side by side on this many workers (pytest-xdist, a file stays on one
# worker); each worker has its own namespaces and operator, so they never share runs.
TEST_WORKERS ?= 3

.PHONY: typecheck
typecheck: venv ## mypy over operator/flowrun (strict for contract/ and kube/; settings in pyproject.toml)
	@echo "==> mypy: types (strict for flowrun.contract and flowrun.kube)"
	@$(VENV)/bin/mypy

.PHONY: test
test: venv browser ## run the whole suite: lint, types, unit, integration and end-to-end on a real cluster
	@echo "==> import-linter: the rooms' layering"
	@$(VENV)/bin/lint-imports --no-cache
	@$(MAKE) --no-print-directory typecheck
	@echo "==> the test cluster and the images (starts the local cluster when KUBECONFIG does not answer)"
	@kc=$$($(PY) tests/cluster/prepare.py) || exit 1; \
	  echo "==> pytest with $(TEST_WORKERS) workers, one operator each (KUBECONFIG=$$kc)"; \
	  KUBECONFIG=$$kc $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	  KUBECONFIG=$$kc $(PY) tests/cluster/prepare.py --finish; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

.PHONY: test-unit
test-unit: venv ## run only the tests that need no cluster
	@$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

# Mutation testing of the rules (contract/): slow, so not part of `make test`. Run it
# before changing a rule (docs/testing.md): MODULES narrows it to some modules, e.g.
# `make mutation MODULES=contract/approvals.py`. Report: .out/mutation/report.md.
MODULES ?= contract/*
MUTATION_EXAMPLES ?= 50
MUTATION_JOBS ?= 2
MUTATION_WORK ?= .out/mutation/work

.PHONY: mutation
mutation: venv ## mutation score of contract/ (mutmut; MODULES=contract/approvals.py for a subset); .out/mutation/report.md
	@$(PY) -c 'import mutmut' 2>/dev/null || $(PIP) install --quiet -e '.[mutation]'
	@$(PY) tests/mutation/run.py --modules '$(MODULES)' --examples $(MUTATION_EXAMPLES) --jobs $(MUTATION_JOBS) --work '$(MUTATION_WORK)'

# After writing tests for the survivors: check only those again (the work directory keeps
# the source as it was staged), then the report merges every work directory named.
.PHONY: mutation-survivors
mutation-survivors: venv ## check again only the survivors in MUTATION_WORK (space-separated dirs), with the tests as they are now
	@$(PY) tests/mutation/run.py --survivors --examples $(MUTATION_EXAMPLES) --jobs $(MUTATION_JOBS) --work '$(MUTATION_WORK)'

# The interleavings property test at many examples, once, to hunt flaky failures (a
# failure is a bug of the code or of the test's model: fix it, never retry it).
INTERLEAVINGS ?= 20000

.PHONY: interleavings
interleavings: venv ## the interleavings property test at INTERLEAVINGS examples (20,000), timed
	@echo "==> tests/unit/controller/test_interleavings.py at $(INTERLEAVINGS) examples"
	@start=$$(date +%s); FLOWRUN_INTERLEAVINGS=$(INTERLEAVINGS) $(PY) -m pytest -q -p no:cacheprovider \
	  tests/unit/controller/test_interleavings.py -k test_interleavings --timeout 0 $(PYTEST_ARGS); rc=$$?; \
	  echo "==> $(INTERLEAVINGS) examples in $$(( $$(date +%s) - start )) s"; exit $$rc

.PHONY: cluster-up
cluster-up: ## start (or reuse) the local single-node cluster and its DNS; last line: export KUBECONFIG=...
	@$(CLUSTER)/cluster-up.sh && $(CLUSTER)/dns-up.sh

.PHONY: cluster-down
cluster-down: ## stop everything cluster-up started
	@$(CLUSTER)/cluster-down.sh

.PHONY: kind-up
kind-up: ## the same cluster shape on kind (needs Docker and internet; see docs/cluster.md)
	@$(CLUSTER)/kind-up.sh

.PHONY: wheels
wheels: venv ## build the wheels the images install (.out/wheels)
	@echo "==> wheels for the images"
	@rm -rf .out/wheels build && mkdir -p .out/wheels
	@# A fixed SOURCE_DATE_EPOCH makes our wheel byte-for-byte reproducible, so an
	@# unchanged tree rebuilds the images from Docker's cache in seconds.
	@SOURCE_DATE_EPOCH=315532800 $(PIP) wheel --quiet --wheel-dir .out/wheels '.[operator,ui]'

.PHONY: images
images: wheels ## build the runner and operator images and load them into the test cluster's containerd
	@$(CLUSTER)/docker-up.sh
	@echo "==> base image"
	@base=$$($(CLUSTER)/base-image.sh | tail -n 1) && \
	  echo "==> $(RUNNER_IMAGE) from $$base" && \
	  docker build --quiet --build-arg BASE_IMAGE=$$base -f runner-image/Dockerfile -t $(RUNNER_IMAGE) . >/dev/null && \
	  echo "==> $(OPERATOR_IMAGE) from $$base" && \
	  docker build --quiet --build-arg BASE_IMAGE=$$base -f operator/Dockerfile -t $(OPERATOR_IMAGE) . >/dev/null
	@docker image prune --force --filter label=io.flowrun.project=flowrun-operator >/dev/null
	@echo "==> loading $(RUNNER_IMAGE) and $(OPERATOR_IMAGE) into the cluster"
	@$(CLUSTER)/load-image.sh $(RUNNER_IMAGE) $(OPERATOR_IMAGE)

.PHONY: run-operator
run-operator: venv ## run the operator on this machine against $$KUBECONFIG (all namespaces)
	@$(PY) -m flowrun.controller --all-namespaces

.PHONY: crds
crds: ## install the CRDs (FlowRun, FlowRunNotifier) into the current cluster
	@kubectl apply -f crds/

CHART := charts/flowrun-operator
HELM := $(shell bash -c '. $(CLUSTER)/versions.sh && echo $$HELM_BIN')/helm
DEPLOY_NAMESPACE ?= flowrun-system
# Extra helm arguments for `make deploy`, e.g. DEPLOY_ARGS='--set watchNamespaces={team-a}'.
DEPLOY_ARGS ?=

.PHONY: chart-crds
chart-crds: ## copy the CRD (crds/, the single source of truth) into the chart
	@mkdir -p $(CHART)/files/crds
	@cp crds/*.yaml $(CHART)/files/crds/
	@echo "==> $(CHART)/files/crds/ updated from crds/"

.PHONY: chart-lint
chart-lint: chart-crds ## helm lint --strict the chart with every ci/*-values.yaml scenario
	@for f in $(CHART)/ci/*-values.yaml; do \
	  echo "==> helm lint --strict -f $$f"; \
	  $(HELM) lint --strict $(CHART) -f $$f || exit 1; \
	done

.PHONY: deploy
deploy: images chart-crds ## install/upgrade the chart into the current cluster with the local images
	@# The tag stays the version while the code changes: the image's id as a pod annotation
	@# rolls the operator when `make images` built a new one, and only then.
	$(HELM) upgrade --install flowrun-operator $(CHART) -n $(DEPLOY_NAMESPACE) --create-namespace \
	  --set-string "podAnnotations.flowrun\.io/image-id=$$(docker image inspect -f '{{.Id}}' $(OPERATOR_IMAGE) | cut -c8-19)" \
	  --set image.repository=flowrun-operator --set image.tag=$(IMAGE_TAG) --set image.pullPolicy=IfNotPresent \
	  --set runner.image.repository=flowrun-runner --set runner.image.tag=$(IMAGE_TAG) \
	  --set runner.image.pullPolicy=IfNotPresent --wait --timeout 3m $(DEPLOY_ARGS)
