# The two commands: `make demo` and `make test`. Everything else is a helper they use.
# Debian's own Python 3.11 when it is there and can make a venv, else python3 (ADR 18): built with
# profile-guided and link-time optimisation, it takes less CPU than a python3 built without them
# that may come first on PATH (a pyenv build, say): 15-30% on pure-Python loops, 7-10% per order.
DEBIAN_PYTHON := $(shell /usr/bin/python3.11 -c 'import ensurepip, venv' >/dev/null 2>&1 && echo /usr/bin/python3.11)
PYTHON ?= $(or $(DEBIAN_PYTHON),python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# named after the interpreter, so that a venv made with another one is made again
STAMP  := $(VENV)/.installed-$(subst /,_,$(PYTHON))

.PHONY: setup demo test lint unit chromium bench clean i18n

$(STAMP): pyproject.toml
	@if [ -f $(VENV)/pyvenv.cfg ] && [ "$$($(BIN)/python -c 'import os, sys; print(os.path.realpath(sys._base_executable))' 2>/dev/null)" \
	    != "$$($(PYTHON) -c 'import os, sys; print(os.path.realpath(sys.executable))')" ]; then \
	  echo "$(VENV) was made with another Python: making it again with $(PYTHON)"; rm -rf $(VENV); \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## 1. Set up, start the embedded PostgreSQL, migrate, load demo data, serve on 127.0.0.1:8000.
demo: setup
	$(BIN)/telcrm demo

## 2. Set up and run the whole suite (lint, types, layer contracts, tests).
test: setup lint unit

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

unit: setup chromium
	$(BIN)/pytest -n $${TEST_WORKERS:-2} $(PYTEST_ARGS)

# The browser tests (tests/browser) drive Debian's Chromium (or $$TELCRM_CHROMIUM); when it is
# missing, root with apt-get installs it here, anyone else is told how.
CHROMIUM := $(or $(TELCRM_CHROMIUM),/usr/bin/chromium)
chromium:
	@if [ ! -x "$(CHROMIUM)" ] && [ "$(CHROMIUM)" = /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null; then \
	  echo "installing chromium and fonts-wqy-microhei for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei; \
	fi
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "The browser tests need Chromium at $(CHROMIUM). Install it with" >&2; \
	  echo "  sudo apt-get install chromium fonts-wqy-microhei" >&2; \
	  echo "or set TELCRM_CHROMIUM to a Chromium binary." >&2; \
	  exit 1; \
	fi

clean:
	rm -rf $(VENV) .telcrm-test .pytest_cache .mypy_cache .ruff_cache

## Screens' translations: extract new strings, derive zh_Hant from zh_Hans (see telcrm.web.catalogs).
i18n: setup
	$(BIN)/python -m telcrm.web.catalogs
