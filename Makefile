# LeadBridge developer commands. `make demo` and `make test` are the README's quick start.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/leadbridge
DEMO_PORT ?= 8000

.PHONY: install demo test test-sqlite test-postgres test-browser lint typecheck layers browser messages bench clean

$(BIN)/leadbridge: pyproject.toml
	@PYBIN=$$(scripts/find-python) || exit 1; \
	  [ -x $(PY) ] || $$PYBIN -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/leadbridge

demo: install
	$(BIN)/leadbridge init
	$(BIN)/leadbridge demo
	$(BIN)/leadbridge serve --port $(DEMO_PORT)

# Browser tests need Debian's Chromium; as root we install it, never a downloaded browser.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)) ; \
	  else echo "browser tests need /usr/bin/chromium: sudo apt-get install chromium" >&2; exit 1; fi; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy leadbridge config

layers: install
	$(BIN)/lint-imports

test-sqlite: install browser
	env -u DATABASE_URL LEADBRIDGE_DATA_DIR=$$(mktemp -d) $(BIN)/pytest

test-postgres: install browser
	DATABASE_URL=$(PG_URL) LEADBRIDGE_DATA_DIR=$$(mktemp -d) $(BIN)/pytest

test: lint typecheck layers test-sqlite test-postgres

messages: install
	cd leadbridge && ../$(BIN)/django-admin makemessages -l ru --settings=config.settings && ../$(BIN)/django-admin compilemessages --settings=config.settings

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
