# Two commands, nothing global: `make synth` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
# The pinned Node.js 22 and CDK CLI from node_modules come first, then the project's venv.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup synth test lint typecheck unit bench clean

help:
	@echo "make synth   set up, then synthesize every stack with all compliance checks into cdk.out/"
	@echo "make test    set up, then lint, type-check and run the whole test suite"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make clean   remove cdk.out/ and caches (keeps .venv/ and node_modules/)"

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@test "$$(node --version)" = "v$$(node -p 'require("./package.json").devDependencies.node')" \
		|| { echo "node on PATH is not the pinned one: $$(command -v node)"; exit 1; }
	@touch $@

synth: setup
	cdk synth --quiet

lint: setup
	ruff check .
	ruff format --check .

typecheck: setup
	mypy

unit: setup
	$(PYTHON) -m pytest

# Type checking and the tests run side by side (two cores); each one's output is printed
# whole when it finishes, the tests' summary last.
test: lint
	@$(MAKE) --no-print-directory -j2 --output-sync=target typecheck unit

bench: setup
	$(PYTHON) benchmarks/synth_time.py
	$(PYTHON) benchmarks/evaluator_cost.py
	$(PYTHON) benchmarks/cli_startup.py
	$(PYTHON) benchmarks/rollout_simulation.py --quick
	$(PYTHON) benchmarks/rollout_fidelity.py --quick

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache dist build
