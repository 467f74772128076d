# The two commands of the README's quick start are `make run` and `make test`.
# Both create the virtualenv in .venv on first use (Python >= 3.11 as python3).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres lint format install clean bench

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## run: the relay with its embedded defaults (SQLite in var/, its own Redis unless REDIS_URL/REDIS_HOST is set)
run: $(STAMP)
	$(PY) manage.py runrelay

## test: lint, migrations check, then the whole suite against a real Redis and the configured database
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

## bench: the benchmark (docs/performance.md); DATABASE_URL=postgres://... for Postgres, BENCH_ARGS="--n 500" to shrink;
## BENCH_ARGS="--scenarios versus-node": the relay as shipped vs ../shared/bench's Node stack, same measure.sh, ratios
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
