# dailyfetch — the two commands a newcomer needs:
#   make run    create .venv, install, run the USGS example on the embedded PostgreSQL, show what landed
#   make test   install the test dependencies and run ruff, mypy --strict and the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
EXAMPLE ?= examples/earthquakes.toml

.PHONY: run test lint typecheck pytest property infra-test bench deploy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

# Real servers the peer tests run against (requirements/peers.txt), in a venv of their own.
PEERS ?= .venv-peers
$(PEERS)/.installed: requirements/peers.txt
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q -r requirements/peers.txt
	@touch $@

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

pytest: $(VENV)/.test-installed $(PEERS)/.installed
	DAILYFETCH_PEERS=$(abspath $(PEERS)) $(BIN)/pytest -q -p no:cacheprovider -n 2 -m "not serial"
	DAILYFETCH_PEERS=$(abspath $(PEERS)) $(BIN)/pytest -q -p no:cacheprovider -m serial

# The load invariant's property test with many more examples than make test gives it.
PROPERTY_EXAMPLES ?= 2000
property: $(VENV)/.test-installed
	DAILYFETCH_PROPERTY_EXAMPLES=$(PROPERTY_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider \
	  --hypothesis-show-statistics tests/integration/test_load_invariant.py

infra-test:
	bash scripts/test-infra.sh

test: lint typecheck pytest infra-test

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/compare.py

deploy:
	bash scripts/deploy.sh

clean:
	rm -rf $(VENV) $(PEERS) .venv-infra .venv-checkov .pytest_cache .mypy_cache .ruff_cache dist build
