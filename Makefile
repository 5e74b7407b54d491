# Two commands, nothing global: `make synth` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
DEV_LOCK := requirements/dev.lock
CHECKOV_VENV := .venv-checkov
CHECKOV_LOCK := requirements/checkov.lock
LOCK_VENV := .venv-lock
# The pinned Node.js 22 and CDK CLI from node_modules come first, then the project's venv.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup synth test lint typecheck unit bench lock clean

help:
	@echo "make synth   set up, then synthesize every stack with all compliance checks into cdk.out/"
	@echo "make test    set up, then lint, type-check and run the whole test suite"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make lock    refresh requirements/*.lock from pyproject.toml (UPGRADE=1: newest allowed pins)"
	@echo "make clean   remove cdk.out/ and caches (keeps .venv/ and node_modules/)"

# The three installs are independent: they run side by side.
setup:
	@$(MAKE) --no-print-directory $(if $(findstring jobserver,$(MAKEFLAGS)),,-j3) --output-sync=target \
		$(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed

# Exactly the lock: every package pinned and hash-checked, then the project itself without
# resolving anything (--no-deps; --no-build-isolation builds it with the locked hatchling).
# The venv keeps the pip its Python ships: nothing is installed that the lock does not pin.
# Then every installed module is compiled once, on all cores (pip compiles on one): with
# PYTHONDONTWRITEBYTECODE set, as on some machines, every process would otherwise compile
# aws-cdk-lib's sources (hundreds of MB) again; 15 s here saves minutes of `make test`.
$(VENV)/.installed: pyproject.toml $(DEV_LOCK)
	@$(PYTHON_BOOTSTRAP) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
		|| echo "warning: $(DEV_LOCK) is resolved for Python 3.11; $(PYTHON_BOOTSTRAP) is $$($(PYTHON_BOOTSTRAP) --version)"
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --no-compile --require-hashes -r $(DEV_LOCK)
	$(PYTHON) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PYTHON) -m pip check
	$(PYTHON) -m compileall -q -j 0 $$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
	@touch $@

# checkov, the template scanner of tests/test_checkov.py, in a venv of its own: it pins boto3,
# packaging and networkx to versions the project's dependencies cannot share.
$(CHECKOV_VENV)/.installed: $(CHECKOV_LOCK)
	$(PYTHON_BOOTSTRAP) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --no-compile --require-hashes -r $(CHECKOV_LOCK)
	$(CHECKOV_VENV)/bin/python -m compileall -q -j 0 \
		$$($(CHECKOV_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
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

# Two workers (the machine's two cores); each test module runs whole on one worker, so a
# module's synthesized template is made once.
unit: setup
	$(PYTHON) -m pytest -n 2 --dist loadfile

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

# pip-tools, itself pinned with hashes, in a venv of its own; tools/lock.py says what it writes.
lock:
	$(PYTHON_BOOTSTRAP) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements/lock-tools.lock
	$(LOCK_VENV)/bin/python tools/lock.py $(if $(UPGRADE),--upgrade)

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache dist build
