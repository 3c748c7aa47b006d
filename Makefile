# Meridian — developer and CI commands. `make help` lists them.
#
# Everything runs from the virtual environment in .venv (no activation needed) and the front-end
# packages installed from package-lock.json. Both steps are stamped, so they rerun only when
# requirements.lock / pyproject.toml or package-lock.json change.

SHELL := /bin/bash

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
MERIDIAN := $(BIN)/meridian
VAR_DIR  := $(or $(MERIDIAN_VAR_DIR),var)

VENV_STAMP   := $(VENV)/.meridian-installed
ASSETS_STAMP := meridian/static/vendor/.stamp
DEMO_PASSWORD_FILE := $(VAR_DIR)/demo-admin-password

RUN_BIND    ?= 127.0.0.1:8000
PYTEST_ARGS ?=
BENCH_ARGS  ?=
LOCK_ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help venv assets run test lint bench lock clean

help:
	@echo "make run     set up, migrate, load demo data once, serve on http://$(RUN_BIND)"
	@echo "make test    the whole test suite (SQLite; PostgreSQL when DATABASE_URL is set)"
	@echo "             extra pytest arguments: make test PYTEST_ARGS='-k calendars -x'"
	@echo "make lint    ruff, ruff format --check, mypy, Django system checks, missing migrations"
	@echo "make bench   the benchmarks in benchmarks/"
	@echo "make lock    regenerate requirements.lock from pyproject.toml (LOCK_ARGS=--upgrade to upgrade)"
	@echo "make assets  install front-end packages (npm ci) and copy them into meridian/static/vendor/"
	@echo "make clean   remove .venv, node_modules, vendored assets, collected static files and caches"
	@echo "             (keeps $(VAR_DIR)/: the SQLite database, secret key and demo password)"

# --- setup ----------------------------------------------------------------------------------------

venv: $(VENV_STAMP)

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

$(VENV_STAMP): requirements.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip sync --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	@$(BIN)/uv pip check --python $(BIN)/python || { \
		echo "requirements.lock does not satisfy pyproject.toml: run 'make lock'" >&2; exit 1; }
	touch $@

assets: $(ASSETS_STAMP)

$(ASSETS_STAMP): package-lock.json package.json scripts/vendor-assets.sh
	npm ci --no-audit --no-fund
	bash scripts/vendor-assets.sh
	touch $@

lock: | $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python $(BIN)/python -o requirements.lock $(LOCK_ARGS)

# --- the two commands -----------------------------------------------------------------------------

# A local, single-machine Meridian: SQLite in $(VAR_DIR)/, in-process task consumer, plain HTTP on
# 127.0.0.1 (hence MERIDIAN_HTTPS=false). The demo admin password is generated on the first run,
# kept in $(DEMO_PASSWORD_FILE) and printed on every run.
run: venv assets
	@mkdir -p $(VAR_DIR)
	@test -s $(DEMO_PASSWORD_FILE) || ( umask 077 && $(BIN)/python -c \
		'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(16)))' \
		> $(DEMO_PASSWORD_FILE) )
	$(MERIDIAN) migrate --noinput
	$(MERIDIAN) createcachetable
	$(MERIDIAN) collectstatic --noinput --verbosity 0
	$(MERIDIAN) demo --if-empty --password="$$(cat $(DEMO_PASSWORD_FILE))"
	@echo
	@echo "================================================================================"
	@echo "  Meridian is starting on  http://$(RUN_BIND)/"
	@echo "  Log in as  admin  with password  $$(cat $(DEMO_PASSWORD_FILE))"
	@echo "  (kept in $(DEMO_PASSWORD_FILE); it applies to the demo data loaded by the first"
	@echo "   'make run'. To change it: $(MERIDIAN) changepassword admin)"
	@echo "  Stop with Ctrl-C."
	@echo "================================================================================"
	@echo
	MERIDIAN_HTTPS=false $(MERIDIAN) serve --bind $(RUN_BIND)

# SQLite without DATABASE_URL; PostgreSQL with DATABASE_URL=postgres://... (the test database is
# created by the test runner). pytest's configuration lives in pyproject.toml. The browser and libmagic
# are made available first (scripts/test-prerequisites.sh: apt-get as root on Debian, else Playwright's
# own Chromium; one line saying what to install when neither works).
test: venv assets
	@bash scripts/test-prerequisites.sh
	$(BIN)/pytest $(PYTEST_ARGS)

# --- quality --------------------------------------------------------------------------------------

lint: venv assets
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy meridian
	$(MERIDIAN) check --fail-level WARNING
	$(MERIDIAN) makemigrations --check --dry-run

bench: venv assets
	@if [ -f benchmarks/__main__.py ]; then \
		$(BIN)/python -m benchmarks $(BENCH_ARGS); \
	else \
		echo "no benchmarks/__main__.py: nothing to run"; \
	fi

# --- housekeeping ---------------------------------------------------------------------------------

clean:
	rm -rf $(VENV) node_modules meridian/static/vendor staticfiles build *.egg-info
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
	find . -name __pycache__ -type d -not -path './.git/*' -prune -exec rm -rf {} +
