# Berth: `make run` to start everything, `make test` to prove it.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
XDIST ?= 3

.PHONY: run test lint unit images bench clean install test-podman test-swarm

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

images:
	@bash deploy/build-images.sh

run: $(STAMP) images
	$(BIN)/berth run

lint: $(STAMP)
	$(BIN)/ruff check controlplane provisioner migrations tests bench
	$(BIN)/mypy controlplane provisioner

test: $(STAMP) images lint
	$(BIN)/pytest -n $(XDIST) --dist loadgroup -p no:cacheprovider tests

# Only the Swarm variants of the integration suites (make test runs them too).
test-swarm: $(STAMP) images
	$(BIN)/pytest -n $(XDIST) --dist loadgroup -p no:cacheprovider -k swarm tests/integration

# Foundation integration tests against Podman's Docker-compatible socket (needs podman).
test-podman: $(STAMP) images
	bash deploy/podman-test.sh

unit: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider tests/unit

bench: $(STAMP) images
	$(BIN)/python -m bench $(if $(FULL),--full,)

clean:
	rm -rf $(VENV) .berth .pytest_cache .mypy_cache .ruff_cache
