# One Makefile for people and CI. `make run` = the local stack; `make test` = everything CI checks.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup run test lint format validate build pytest bench events openapi clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements-dev.txt constraints.txt layers/ticketing/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt constraints-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q -r requirements-sam.txt -c constraints-sam.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## The local stack: DynamoDB Local :8000 + the template's HTTP API on :3000 + its schedules.
run: setup
	PYTHONPATH=.:layers/ticketing $(PY) -m local.server \
	  --env LOCAL_SECRETS_FILE=local/secrets.json \
	  --env META_VERIFY_TOKEN_REF=local:meta-verify-token \
	  --env META_APP_ID=1517776481860111

## Everything CI checks: lint, types, template, build, the whole test suite.
test: setup $(SAM_VENV)/.installed
	$(MAKE) --no-print-directory lint validate build pytest

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/ticketing/ticketing functions local bench

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

validate:
	$(SAM) validate --lint

build:
	$(SAM) build --build-dir .aws-sam/build --cached --parallel

pytest:
	$(PY) -m pytest -q

bench: setup
	PYTHONPATH=.:layers/ticketing $(PY) -m bench

events:
	PYTHONPATH=.:layers/ticketing $(PY) -m local.demo events

## Regenerate openapi.json (the agent API, from the resolvers); a stale copy fails the tests.
openapi: $(VENV)/.installed
	PYTHONPATH=.:layers/ticketing $(PY) -m local.openapi --write

clean:
	rm -rf .aws-sam $(VENV) $(SAM_VENV) node_modules
