# Ledgerline: `make run` runs the whole system, `make test` runs the whole suite.
# With DATABASE_URL and REDIS_URL unset both use the embedded PostgreSQL and Redis under .run/
# (config/embedded.py); set them to use real services. `make help` lists every target.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 8000
ARGS ?=
PYTHON ?= python3
# `pip install uv` may put the uv binary outside PATH; `python3 -m uv` always finds it.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen --no-sync
EMBEDDED := $(RUN) python -m config.embedded exec --
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help uv sync deps run cluster test example bench lint format

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'
	@echo "  make test ARGS='-k ack -x'   pass arguments to pytest;  make run PORT=8001"

uv: ## install uv if it is missing
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
	  || $(PYTHON) -m pip install --quiet uv \
	  || $(PYTHON) -m pip install --quiet --user --break-system-packages uv

sync: uv ## create/update .venv exactly as uv.lock pins it
	$(UV) sync --frozen

# Everything the suite needs beyond Python packages goes here. Browser tests use the Debian
# chromium at /usr/bin/chromium (Playwright cannot download its own here); the JS tests use Node;
# `make cluster` and the cluster fault scenarios put Debian's nginx (/usr/sbin/nginx) in front.
deps: sync ## Python packages plus the suite's system/browser dependencies
	@test -x /usr/bin/chromium && command -v node >/dev/null && test -x /usr/sbin/nginx \
	  || { export DEBIAN_FRONTEND=noninteractive; $(SUDO) apt-get update -qq \
	  && $(SUDO) apt-get install -y -qq chromium nodejs nginx </dev/null; }

run: sync ## the whole system: migrate, demo users, daphne + Celery worker + beat on PORT
	PORT=$(PORT) $(EMBEDDED) python -m config.run

cluster: sync ## scaled out on one machine: nginx on PORT, 3 daphnes, 2 Redis shards, 2 workers, beat
	@test -x /usr/sbin/nginx || command -v nginx >/dev/null || $(MAKE) deps
	PORT=$(PORT) $(EMBEDDED) python -m config.cluster

test: deps ## the whole suite: node tests, pytest (ARGS=...), then the embedding example's test
	node --test tests/js/
	$(EMBEDDED) python -m pytest $(ARGS)
	$(MAKE) --no-print-directory example

# The example is a project of its own: it installs delivery from the wheel built from
# packaging/pyproject.toml into a venv of its own, so it sees nothing else of this repository.
EXAMPLE := .run/example
example: sync ## the embedding example's test, with delivery installed from its wheel
	rm -rf $(EXAMPLE) && $(UV) build --quiet --wheel packaging -o $(EXAMPLE)/dist
	$(UV) venv --quiet --python .venv/bin/python $(EXAMPLE)/venv
	$(UV) pip install --quiet --python $(EXAMPLE)/venv/bin/python $(EXAMPLE)/dist/*.whl \
	  django-environ pytest pytest-django pytest-asyncio pytest-timeout
	$(EMBEDDED) bash -c 'cd examples/minimal_project && ../../$(EXAMPLE)/venv/bin/python -m pytest'

bench: sync ## Ledgerline against plain Channels, side by side (about 10 min; ARGS=--help)
	$(EMBEDDED) python -m bench $(ARGS)

lint: sync ## ruff, mypy (django-stubs) and the import contracts (pyproject.toml)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

format: sync ## apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .
