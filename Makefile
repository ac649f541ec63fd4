# Two commands (see README):
#   make demo   install mlci and run the example pipeline on the embedded local store
#   make test   install everything the tests need and run every test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test setup-test pytest groovy-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e 'python[demo]'

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e 'python[test]'

demo: install
	bash examples/demo.sh $(BIN)

# System parts the tests use for real (Docker daemon, registry, Groovy, base image).
setup-test:
	bash tests/setup.sh

# Where a part of the test environment is missing (no Docker daemon, registry, moto), the tests
# that need it skip here; `make test` (what CI runs) sets MLCI_REQUIRE_SERVICES=1, so there they
# fail and name the part.
pytest: install-test
	$(BIN)/python -m pytest tests/python tests/e2e

groovy-test:
	bash tests/groovy/run.sh

test: install-test setup-test
	MLCI_REQUIRE_SERVICES=1 $(BIN)/python -m pytest tests/python tests/e2e
	MLCI_REQUIRE_SERVICES=1 bash tests/groovy/run.sh

clean:
	rm -rf $(VENV) examples/*/.mlci examples/*/data
