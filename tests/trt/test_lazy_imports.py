"""Everything imports, describes itself and fails cleanly with neither TensorRT nor pycuda."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import argparse, json, sys
for blocked in ("tensorrt", "tensorrt_bindings", "pycuda", "pycuda.driver"):
    sys.modules[blocked] = None  # any import of these raises ImportError
import trt_core.trt, trt_core.cuda, trt_core.backends.tensorrt, trt_core.backends.ort_cuda, trt_core.cli.build
from trt_core.errors import BackendUnavailableError
from trt_core.cuda.driver import CudaContext
out = {"cuda": trt_core.cuda.describe(), "trt": trt_core.trt.describe(), "gpus": trt_core.cuda.gpu_count()}
out["loaded"] = sorted(m for m in ("tensorrt", "pycuda") if sys.modules.get(m) is not None)
parser = argparse.ArgumentParser()
sub = parser.add_subparsers()
trt_core.cli.build.add_parser(sub)
from trt_core.models import demo_model_path
args = parser.parse_args(["build", str(demo_model_path()), "--fp16", "--max-batch", "8"])
try:
    args.func(args)
except BackendUnavailableError as exc:
    out["build"] = str(exc)
for make in (lambda: CudaContext(0),
             lambda: trt_core.backends.tensorrt.TensorRTBackend.from_engine("x.engine", None)):
    try:
        make()
    except BackendUnavailableError as exc:
        out.setdefault("errors", []).append(str(exc))
    except Exception as exc:
        out.setdefault("errors", []).append(type(exc).__name__ + ": " + str(exc))
print(json.dumps(out))
"""


def test_imports_and_errors_without_tensorrt_or_pycuda(tmp_path: Path) -> None:
    (tmp_path / "x.engine").write_bytes(b"x")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["loaded"] == []
    assert out["gpus"] == 0
    assert out["cuda"]["available"] is False and "pycuda" in out["cuda"]["error"]
    assert out["trt"]["available"] is False and "TensorRT is not installed" in out["trt"]["error"]
    assert "\n" not in out["build"] and "pip install 'trt-detect[gpu]'" in out["build"]
    assert all("pycuda is not installed" in e and "trt-detect[gpu]" in e for e in out["errors"]), out["errors"]
