# gpu-caas — see README.md. Every target that needs the toolchain runs setup first.
SHELL := /bin/bash
STACK ?= dev
ENV := . scripts/env.sh &&
# The upstream reference files, checked first by every target that reads them: the
# system python3 and the standard library only (no .venv yet on a fresh clone), so a
# clone without them stops here with one message instead of after the tool builds.
UPSTREAM_CHECK := python3 -m sandbox.upstream check

.PHONY: help setup setup-test preview test test-unit test-engine test-live sandbox sandbox-down lint schema validate bench clean upstream upstream-check

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: ## create .venv and build (or find) the Pulumi CLI, language host and providers
	@scripts/setup.sh

setup-test: ## check the upstream files, then setup plus the test tools (Kyverno CLI, local cluster: etcd, kube-apiserver, controllers, kwok)
	@$(UPSTREAM_CHECK)
	@scripts/setup.sh --test-tools

upstream: ## fetch the upstream reference files of upstream.lock.json into ~/.cache/gpu-caas/upstream, hashes verified (needs github.com; not needed beside ../shared)
	@python3 -m sandbox.upstream fetch

upstream-check: ## which upstream reference files the tests use, verified against upstream.lock.json (test, setup-test and sandbox run it first)
	@$(UPSTREAM_CHECK)

preview: setup ## pulumi preview of STACK (default dev) with every policy pack; ARGS="--diff ..." go to pulumi preview
	@$(ENV) scripts/preview.sh $(STACK) $(ARGS)

test: setup-test ## everything: unit, real-engine previews, API-server dry runs and live `pulumi up` tests
	@$(ENV) python -m pytest -q

test-unit: upstream-check setup ## unit tests only (no engine)
	@$(ENV) python -m pytest -q -m "not engine"

test-engine: setup-test ## real-engine and Kyverno CLI tests only (live tests included)
	@$(ENV) python -m pytest -q -m engine

test-live: setup-test ## live tests only: `pulumi up` every flavor onto a local cluster with simulated GPU nodes
	@$(ENV) python -m pytest -q -m live

sandbox: setup-test ## start a local cluster with simulated GPU nodes and `pulumi up` SANDBOX_STACK (default isv-inference) onto it
	@$(ENV) python -m sandbox up $(or $(SANDBOX_STACK),isv-inference)

sandbox-down: setup ## destroy the sandbox stack and stop the local cluster
	@$(ENV) python -m sandbox down

lint: setup ## ruff + mypy (each policy pack and fixture program on its own)
	@$(ENV) ruff check . && ruff format --check . && mypy . && \
	  for program in policies/*-*/__main__.py tests/engine/fixtures/*/__main__.py; do mypy "$$program" || exit 1; done

schema: setup ## regenerate stacks/schema/tenant.schema.json from the config models
	@$(ENV) python -m stacks schema

validate: setup ## validate every Pulumi.*.yaml without the engine
	@$(ENV) python -m stacks validate Pulumi.*.yaml

bench: setup-test ## benchmarks (speed and memory targets live here, not in tests; the live one needs the test tools)
	@$(ENV) python -m bench

clean: ## remove the local state backend and caches in the repo (not the toolchain cache)
	rm -rf .pulumi .pytest_cache .mypy_cache .ruff_cache
