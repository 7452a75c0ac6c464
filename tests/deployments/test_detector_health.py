"""The inference stage's ``check_health``: passes while the backend runs, fails once it is broken."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from deployments.detector import PROBE_AFTER_IDLE_S, InferDeployment
from trt_core.backends.onnxruntime import OnnxRuntimeBackend
from trt_core.engine import InferenceEngine
from trt_core.spec import ModelSpec


def replica_without_ray(model: Path) -> Any:
    """The deployment's class with a real backend, built without starting a replica."""
    replica = object.__new__(InferDeployment.func_or_class)
    spec = ModelSpec.from_onnx(model)
    replica.engine = InferenceEngine(spec, OnnxRuntimeBackend(model, spec, max_batch=4), padding="none")
    replica.broken, replica.last_ok = None, time.monotonic() - PROBE_AFTER_IDLE_S - 1
    replica.pool = ThreadPoolExecutor(1)
    return replica


def check(replica: Any) -> None:
    asyncio.run(replica.check_health())


def test_health_probe_runs_the_backend_and_fails_when_it_breaks(tiny_model: Path) -> None:
    replica = replica_without_ray(tiny_model)
    check(replica)  # idle long enough: a real 1-image probe runs, and passes
    assert replica.broken is None and time.monotonic() - replica.last_ok < 5
    replica.engine.close()
    check(replica)  # recently healthy: no probe, still passes
    replica.last_ok -= PROBE_AFTER_IDLE_S + 1
    with pytest.raises(RuntimeError, match="backend is broken"):
        check(replica)


def test_a_failed_batch_marks_the_replica_for_a_probe(tiny_model: Path) -> None:
    replica = replica_without_ray(tiny_model)
    replica.last_ok = time.monotonic()
    replica.broken = "inference failed"
    with pytest.raises(RuntimeError, match="inference failed"):
        replica.ping()  # GET /healthz answers 503 meanwhile
    check(replica)  # the probe succeeds, so the replica recovers
    assert replica.broken is None and replica.ping() == "ok"
