# Two commands: `make run` (the main job on the embedded lake) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
DATE ?= $(shell date -u +%F)
CONF ?= {}
INSTALLED := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
LAMBDA_ZIP := dist/tmdb_ingest_lambda.zip

.PHONY: run airflow cluster airflow-cli test bench lock clean lambda-package

run: $(COMPILED) $(LAMBDA_ZIP)
	$(BIN)/python -m local_stack.run --date $(DATE) --conf '$(CONF)'

# The UI on http://127.0.0.1:8080 with the scheduler, on the same embedded services; Ctrl-C stops all.
airflow: $(COMPILED) $(LAMBDA_ZIP)
	$(BIN)/python -m local_stack.standalone

# docker-compose.yaml's Celery topology natively on loopback (PostgreSQL, Redis, two workers); Ctrl-C stops all.
cluster: $(COMPILED) $(LAMBDA_ZIP)
	$(BIN)/python -m local_stack.cluster

# Any airflow command on the same environment, e.g. make airflow-cli CMD="tasks test datalake_raw_ingest discover_top_anime 2026-11-27"
airflow-cli: $(COMPILED) $(LAMBDA_ZIP)
	$(BIN)/python -m local_stack.cli $(CMD)

test: $(COMPILED)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every stage against its bare baseline in the same run; table on stdout, JSON in .bench/. QUICK=1: small files, no dags test, no make run.
bench: $(COMPILED) $(LAMBDA_ZIP)
	$(BIN)/python -m bench $(if $(QUICK),--quick)

# The Lambda's deployment package: the same inputs give the same bytes.
lambda-package: $(LAMBDA_ZIP)

$(LAMBDA_ZIP): $(INSTALLED) constraints.txt $(wildcard lambda_function/*.py plugins/datalake/*.py)
	$(BIN)/python -m lambda_function.build

# Reinstalls only when the pins change.
$(INSTALLED): requirements.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.txt -c constraints.txt
	touch $@

# Bytecode for every installed module, once per install: where PYTHONDONTWRITEBYTECODE is set, Python
# would otherwise compile every module it imports again in each process (seconds per Airflow process).
$(COMPILED): $(INSTALLED)
	$(BIN)/python -m compileall -q -j 0 $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
	touch $@

# Re-resolves the full set of pins from requirements.txt.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile --quiet --python $(BIN)/python --no-header requirements.txt -o constraints.txt

clean:
	rm -rf $(VENV) .local .lake dist
