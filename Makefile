# Two commands: `make run` (the main job on the embedded lake) and `make test`. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Every variable given on the command line (DATE, FROM, TO, CONF, CMD, PYTEST_ARGS, MOVIES_CSV, ...) is data:
# frozen to its literal text (a `$(shell ...)` in it is never expanded) and reaches the recipes only through
# the environment, where they quote it ("$$DATE") or the Python side splits it (local_stack.words). No
# recipe pastes a value into a command line, so no value can run as shell code.
INTERNAL := SHELL VENV BIN UV_VERSION INSTALLED COMPILED LAMBDA_ZIP
$(foreach name,$(INTERNAL),$(if $(filter command line,$(origin $(name))),\
  $(error $(name) is internal to this Makefile and cannot be set on the command line)))
$(foreach name,$(.VARIABLES),$(if $(filter command line,$(origin $(name))),\
  $(eval override $(name) := $$(value $(name)))$(eval export $(name))))

PYTHON ?= $(shell command -v python3.11 || command -v python3)
export PYTHON
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
INSTALLED := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
LAMBDA_ZIP := dist/tmdb_ingest_lambda.zip

.PHONY: help run backfill airflow cluster airflow-cli test test-fast lint bench lock clean lambda-package

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 24

run: $(COMPILED) $(LAMBDA_ZIP) ## the raw DAG and its report for the partition DATE=YYYY-MM-DD (default today), CONF='{...}'
	$(BIN)/python -m local_stack.run --date "$$DATE" --conf "$$CONF"

backfill: $(COMPILED) $(LAMBDA_ZIP) ## an Airflow backfill of the partitions FROM=YYYY-MM-DD to TO=YYYY-MM-DD, a report each
	$(BIN)/python -m local_stack.backfill --from "$$FROM" --to "$$TO" --conf "$$CONF"

airflow: $(COMPILED) $(LAMBDA_ZIP) ## the UI on http://127.0.0.1:8080, scheduler and all, on the embedded services
	$(BIN)/python -m local_stack.standalone

cluster: $(COMPILED) $(LAMBDA_ZIP) ## docker-compose's Celery topology natively: PostgreSQL, Redis, two workers
	$(BIN)/python -m local_stack.cluster

airflow-cli: $(COMPILED) $(LAMBDA_ZIP) ## any airflow command there: CMD="tasks test datalake_raw_ingest ..."
	$(BIN)/python -m local_stack.words CMD -- $(BIN)/python -m local_stack.cli

test: $(COMPILED) ## the whole suite, every tier (tests/unit, dags, integration, e2e); PYTEST_ARGS adds options
	$(BIN)/python -m local_stack.words PYTEST_ARGS -- $(BIN)/python -m pytest

test-fast: $(COMPILED) ## the fast tier: unit tests and DAG integrity, under a minute (no server, no DAG run)
	$(BIN)/python -m local_stack.words PYTEST_ARGS -- $(BIN)/python -m pytest tests/unit tests/dags

lint: $(COMPILED) ## the house style (ruff check and ruff format --check: pyproject.toml); .ci/run runs it first
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(COMPILED) $(LAMBDA_ZIP) ## every stage against its bare baseline; QUICK=1 small, LANDING=1 or TMDB=1 one stage
	$(BIN)/python -m bench $(if $(QUICK),--quick) $(if $(LANDING),--landing-only) $(if $(TMDB),--tmdb-only)

lambda-package: $(LAMBDA_ZIP) ## the Lambda's zip: the same inputs give the same bytes

$(LAMBDA_ZIP): $(INSTALLED) constraints.txt $(wildcard lambda_function/*.py) $(shell find plugins/datalake -name '*.py')
	$(BIN)/python -m lambda_function.build

# Reinstalls only when the pins change. The project itself goes in editable (plugins/datalake imports as
# `datalake` from anywhere), with every extra: the local stack, the tests and the linter.
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || "$$PYTHON" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[local,test,dev]' -c constraints.txt
	touch $@

# Bytecode for every installed module, once per install: where PYTHONDONTWRITEBYTECODE is set, Python
# would otherwise compile every module it imports again in each process (seconds per Airflow process).
$(COMPILED): $(INSTALLED)
	$(BIN)/python -m compileall -q -j 0 $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
	touch $@

lock: ## re-resolve constraints.txt from pyproject.toml (its dependencies and every extra)
	test -x $(BIN)/python || "$$PYTHON" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile --quiet --python $(BIN)/python --no-header pyproject.toml --all-extras -o constraints.txt

clean: ## remove the venv, the local state, the lake and the Lambda zip
	rm -rf $(VENV) .local .lake dist
