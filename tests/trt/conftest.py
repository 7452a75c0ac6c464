"""The real TensorRT 10.x / 11.x Python bindings, importable for introspection only.

``../shared/trt-api/setup.sh`` downloads them and stubs TensorRT's libraries (needs a C
compiler and the package index).  The repo's git-ignored ``.trt-api/`` is reused when it
is already set up; otherwise setup runs once per test session into a temporary folder.
Tests that need the bindings skip when that is impossible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
MAJORS = (10, 11)


def _ready(root: Path) -> bool:
    return all((root / str(m) / "site" / "tensorrt_bindings" / "__init__.py").exists() for m in MAJORS)


def _setup_script() -> Path | None:
    candidates = [os.environ.get("TRT_API_SETUP"), REPO.parent / "shared/trt-api/setup.sh",
                  "/work/shared/trt-api/setup.sh"]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def trt_api(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``10/`` and ``11/`` (stub libraries) and ``*/site`` (the bindings)."""
    for root in (Path(os.environ.get("TRT_API_DIR", REPO / ".trt-api")),):
        if _ready(root):
            return root
    script = _setup_script()
    if script is None:
        pytest.skip("the TensorRT API setup script (../shared/trt-api/setup.sh) is not available")
    if shutil.which("cc") is None:
        pytest.skip("no C compiler for the TensorRT stub libraries")
    dest = tmp_path_factory.mktemp("trt-api")
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(script), str(dest)], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0 or not _ready(dest):
        pytest.skip(f"TensorRT API setup failed (no network?): {proc.stderr.strip()[-300:]}")
    return dest


@pytest.fixture(scope="session")
def run_with_trt(trt_api: Path) -> Callable[[int, str], Any]:
    """``run(major, code)``: run ``code`` in a subprocess that imports the real bindings of
    that major version (as ``tensorrt_bindings``) and prints one JSON value; returns it."""

    def run(major: int, code: str) -> Any:
        env = {
            **os.environ,
            "LD_LIBRARY_PATH": str(trt_api / str(major)),
            "PYTHONPATH": os.pathsep.join([str(trt_api / str(major) / "site"), str(REPO)]),
        }
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                              cwd=REPO)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run
