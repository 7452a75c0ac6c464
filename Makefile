PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SERVE_STAMP := $(VENV)/.installed-serve
DEV_STAMP := $(VENV)/.installed-dev
# Ray Serve's high-throughput mode (HAProxy ingress + gRPC between replicas), as the product
# ships it; `make serve CLASSIC_PROXY=1` runs Serve's classic Python proxy instead.
ifeq ($(CLASSIC_PROXY),1)
SERVE_MODE := RAY_SERVE_ENABLE_HA_PROXY=0 RAY_SERVE_THROUGHPUT_OPTIMIZED=0
else
SERVE_MODE := RAY_SERVE_ENABLE_HA_PROXY=1 RAY_SERVE_THROUGHPUT_OPTIMIZED=1 \
	RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S=30 RAY_SERVE_HAPROXY_TIMEOUT_SERVER_S=60
endif

.PHONY: install serve test lint format typecheck gpu-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Serving needs only the serve extra; the tests need the dev extra (which includes it).
$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[serve]"
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@ $(SERVE_STAMP)

install: $(DEV_STAMP)

serve: $(SERVE_STAMP)
	$(SERVE_MODE) RAY_DASHBOARD_ENABLED=0 $(BIN)/serve run serve_config.yaml

test: $(DEV_STAMP)
	$(BIN)/ruff check trt_core deployments k8s tests benchmarks
	$(BIN)/ruff format --check trt_core deployments k8s tests benchmarks
	$(BIN)/mypy
	$(SERVE_MODE) $(BIN)/python -m pytest -q -m "not gpu" tests

gpu-test: $(DEV_STAMP)
	$(SERVE_MODE) $(BIN)/python -m pytest -q -m gpu tests

lint: $(DEV_STAMP)
	$(BIN)/ruff check trt_core deployments k8s tests benchmarks
	$(BIN)/ruff format --check trt_core deployments k8s tests benchmarks

format: $(DEV_STAMP)
	$(BIN)/ruff format trt_core deployments k8s tests benchmarks

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
