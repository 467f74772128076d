# The two commands of the README's quick start are `make run` and `make test`.
# Both create the virtualenv in .venv on first use (Python >= 3.11 as python3): `make run`
# installs the runtime requirements only, `make test` adds the development set.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# One stamp per requirements set: trying the relay never pulls in the test and benchmark tools.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# The settings the running `make run` writes (its Redis URL...), for `make manage`.
RELAY_ENV := $(or $(DARAJA_VAR_DIR),$(CURDIR)/var)/relay.env

.PHONY: run manage test test-deps lint format install clean bench

$(RUN_STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

install: $(DEV_STAMP)

## run: the relay with its embedded defaults (SQLite in var/, its own Redis unless REDIS_URL/REDIS_HOST is set)
run: $(RUN_STAMP)
	$(PY) manage.py runrelay

## manage: a management command against the relay `make run` started, e.g.
##   make manage ARGS="add_endpoint shop42 --url http://127.0.0.1:8000/mpesa"
## (it reads var/relay.env, which `make run` writes while it runs: the same Redis and database)
manage: $(RUN_STAMP)
	@test -f $(RELAY_ENV) || echo "make manage: no relay running ($(RELAY_ENV) is absent): using the environment's settings" >&2
	@DARAJA_RELAY_ENV=$(RELAY_ENV) $(PY) manage.py $(ARGS)

## test-deps: what the suite needs: the development requirements, Chromium and promtool (installed with
## apt-get when missing and run as root; otherwise a message says how to get them)
test-deps: $(DEV_STAMP)
	$(PY) tests/system_tools.py

## test: lint, the layers contract, migrations check, then the whole suite against a real Redis and the configured database
test: test-deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

## bench: the benchmark (docs/performance.md); DATABASE_URL=postgres://... for Postgres, BENCH_ARGS="--n 500" to shrink;
## BENCH_ARGS="--scenarios versus-node": the relay as shipped vs ../shared/bench's Node stack, same measure.sh, ratios
bench: $(DEV_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: $(DEV_STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
