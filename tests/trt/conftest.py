"""The real TensorRT 10.x / 11.x Python bindings, importable for introspection only.

:mod:`tests.fixtures.trt_api` downloads them from the package index and stubs TensorRT's
libraries (needs a C compiler) once, into the git-ignored ``.trt-api/`` (or ``$TRT_API_DIR``);
later sessions reuse it.  When that is impossible (no network, no compiler) the tests that
need the bindings fail under ``CI=true`` and skip, with the reason, elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import trt_api as bindings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def trt_api() -> Path:
    """A folder with ``10/`` and ``11/`` (stub libraries) and ``*/site`` (the bindings)."""
    try:
        return bindings.setup()
    except bindings.SetupError as exc:
        message = f"the real TensorRT bindings could not be set up: {exc}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def run_with_trt(trt_api: Path) -> Callable[[int, str], Any]:
    """``run(major, code)``: run ``code`` in a subprocess that imports the real bindings of
    that major version (as ``tensorrt_bindings``) and prints one JSON value; returns it."""

    def run(major: int, code: str) -> Any:
        env = {
            **os.environ,
            "LD_LIBRARY_PATH": str(trt_api / str(major)),
            "PYTHONPATH": os.pathsep.join([str(bindings.site(trt_api, major)), str(REPO)]),
        }
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=REPO
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run
