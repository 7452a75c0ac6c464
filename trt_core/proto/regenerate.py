"""Regenerate the Python code of ``open_inference_grpc.proto`` (run from the repository root).

    python -m venv /tmp/gt && /tmp/gt/bin/pip install grpcio-tools==1.74.0
    /tmp/gt/bin/python trt_core/proto/regenerate.py

grpcio-tools 1.74.0 bundles protoc 31.1, whose code needs protobuf >= 6.31.1 at run time (the
project runs on 6.31.1 to 7.x) and grpcio >= 1.74.0.  One change is made to protoc's output:
the descriptors go into a private descriptor pool instead of the process-wide default one, so
that this module and another copy of the same ``inference`` package (``tritonclient.grpc``,
KServe's own) can be imported by one process; the wire format and the gRPC method paths
(``/inference.GRPCInferenceService/ModelInfer``) are the same.  The generated files also get a
header that keeps ruff, ruff format and mypy off them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "trt_core/proto/open_inference_grpc.proto"
DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
PRIVATE_POOL = (
    "# trt-detect: a private pool, so that another copy of the `inference` package can share the process\n"
    "POOL = _descriptor_pool.DescriptorPool()\n"
    "DESCRIPTOR = POOL.AddSerializedFile("
)


# Generated code keeps protoc's style: the project's linters and formatter leave it alone
LINT_HEADER = "# ruff: noqa\n# fmt: off\n"


def main() -> None:
    root = HERE.parent.parent
    command = [sys.executable, "-m", "grpc_tools.protoc", "-I", ".", "--python_out=.", "--pyi_out=."]
    subprocess.run([*command, "--grpc_python_out=.", PROTO], cwd=root, check=True)
    generated = HERE / "open_inference_grpc_pb2.py"
    text = generated.read_text()
    if text.count(DEFAULT_POOL) != 1:
        raise SystemExit(f"protoc's output changed: expected one {DEFAULT_POOL!r}")
    generated.write_text(text.replace(DEFAULT_POOL, PRIVATE_POOL))
    for name in ("open_inference_grpc_pb2.py", "open_inference_grpc_pb2.pyi", "open_inference_grpc_pb2_grpc.py"):
        path = HERE / name
        header = LINT_HEADER + ("# mypy: ignore-errors\n" if name.endswith(".py") else "")
        path.write_text(header + path.read_text())


if __name__ == "__main__":
    main()
