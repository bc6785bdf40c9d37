# gridward: two commands on a fresh Debian machine with Python 3.11.
#   make demo   installs everything and serves the Haidian demo city on http://127.0.0.1:8000
#   make test   installs everything and runs the whole test suite
# Both are safe to re-run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
PG_PKGS := postgresql-15 postgresql-15-postgis-3
BROWSER_PKGS := chromium chromium-driver

.PHONY: demo test bench lint system-deps browser-deps venv clean-db

demo: system-deps venv
	$(BIN)/gridward demo

# the suite on up to 4 workers (one per core), whole files apiece: each worker starts its own
# throwaway PostGIS cluster, and a file's module fixtures (a demo city) are built once
test: system-deps browser-deps venv
	$(BIN)/pytest -q -n auto --maxprocesses 4 --dist loadfile

bench: system-deps venv
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/partition.py
	$(BIN)/python bench/match.py
	$(BIN)/python bench/assign.py
	$(BIN)/python bench/tiles.py
	$(BIN)/python bench/report_month.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# PostgreSQL 15 + PostGIS 3 from Debian, installed only when missing.
system-deps:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	    && ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 \
	    && $(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1; then \
	  echo "system packages: PostgreSQL + PostGIS present"; \
	else \
	  echo "installing $(PG_PKGS) python3-venv"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(PG_PKGS) python3-venv >/dev/null; \
	fi

# Headless Chromium for the browser tests; the tests skip (loudly) if this fails.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
	  echo "system packages: chromium present"; \
	else \
	  echo "installing $(BROWSER_PKGS)"; \
	  ($(SUDO) apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(BROWSER_PKGS) >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# the checkout's cluster (gridward's default data folder), whatever GRIDWARD_DATA_DIR says
clean-db:
	-env -u DATABASE_URL GRIDWARD_DATA_DIR=$(CURDIR)/.gridward $(BIN)/gridward db stop
	rm -rf .gridward
