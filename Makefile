# dailyfetch — the two commands a newcomer needs:
#   make run    create .venv, install, run the USGS example on the embedded PostgreSQL, show what landed
#   make test   install the test dependencies and run ruff, mypy --strict and the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
EXAMPLE ?= examples/earthquakes.toml

.PHONY: run test lint typecheck pytest infra-test bench deploy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/dailyfetch run -c $(EXAMPLE)
	@echo
	$(BIN)/dailyfetch runs -c $(EXAMPLE) --limit 5
	@echo
	$(BIN)/dailyfetch peek -c $(EXAMPLE) --limit 5

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy --strict src/dailyfetch

pytest: $(VENV)/.test-installed
	$(BIN)/pytest -q -p no:cacheprovider -n 2 -m "not serial"
	$(BIN)/pytest -q -p no:cacheprovider -m serial

infra-test:
	bash scripts/test-infra.sh

test: lint typecheck pytest infra-test

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/compare.py

deploy:
	bash scripts/deploy.sh

clean:
	rm -rf $(VENV) .venv-infra .venv-checkov .pytest_cache .mypy_cache .ruff_cache dist build
