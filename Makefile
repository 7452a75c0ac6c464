PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test lint typecheck gpu-test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	RAY_DASHBOARD_ENABLED=0 $(BIN)/serve run serve_config.yaml

test: $(STAMP)
	$(BIN)/ruff check trt_core deployments k8s tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -m "not gpu" tests

gpu-test: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu tests

lint: $(STAMP)
	$(BIN)/ruff check trt_core deployments k8s tests benchmarks
	$(BIN)/ruff format --check trt_core deployments k8s tests

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
