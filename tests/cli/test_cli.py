"""``trt-detect`` as a user runs it: a real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trt_core import Detector


def trt_detect(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trt_core.cli.main", *args], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(4)
    paths = []
    for i, (h, w) in enumerate([(120, 300), (256, 128)]):
        path = folder / f"img{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_detect_json_lines_match_the_library(tiny_model: Path, images: list[Path]) -> None:
    out = trt_detect("detect", "--model", str(tiny_model), "--conf", "0.1", "--json", *map(str, images))
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(p) for p in images]
    detector = Detector.from_onnx(tiny_model, conf=0.1)
    for line, path in zip(lines, images):
        expected = detector.detect(path)
        assert len(line["detections"]) == len(expected)
        np.testing.assert_allclose([d["box"] for d in line["detections"]], expected.xyxy, atol=1e-3)


def test_detect_human_output_and_annotated_images(tiny_model: Path, images: list[Path], tmp_path: Path) -> None:
    out = trt_detect("detect", "--model", str(tiny_model), "--conf", "0.3", "--out", str(tmp_path), str(images[0]))
    assert out.returncode == 0, out.stderr
    assert f"{images[0]}:" in out.stdout and "detection(s) in 300x120" in out.stdout
    assert Image.open(tmp_path / "img0.jpg").size == (300, 120)


def test_spec_overrides_reach_the_model(tiny_model: Path, images: list[Path]) -> None:
    out = trt_detect(
        "detect",
        "--model",
        str(tiny_model),
        "--conf",
        "0.1",
        "--json",
        "--resize",
        "bicubic",
        "--names",
        "x,y,z",
        "--no-letterbox",
        str(images[0]),
    )
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout)
    expected = Detector.from_onnx(tiny_model, conf=0.1, resize="bicubic", names="x,y,z", letterbox=False).detect(
        images[0]
    )
    assert [d["label"] for d in line["detections"]] == list(expected.labels)
    np.testing.assert_allclose([d["box"] for d in line["detections"]], expected.xyxy, atol=1e-3)
    assert {d["label"] for d in line["detections"]} <= {"x", "y", "z"}


def test_info_reports_the_machine() -> None:
    out = trt_detect("info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert "CPUExecutionProvider" in info["onnxruntime"]["providers"]
    assert {"cuda", "tensorrt", "python"} <= set(info)


def test_bench_in_process(tiny_model: Path, images: list[Path]) -> None:
    out = trt_detect(
        "bench", "--model", str(tiny_model), "--requests", "20", "--concurrency", "2", "--json", *map(str, images)
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["requests"] == result["ok"] == 20 and result["errors"] == 0 and result["errors_by_status"] == {}
    assert result["images_per_s"] > 0 and result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    out = trt_detect(
        "bench",
        "--model",
        str(tiny_model),
        "--requests",
        "4",
        "--multipart",
        "3",
        "--warmup",
        "0",
        "--json",
        str(images[0]),
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["images_per_request"] == 3
    assert result["images_per_s"] == pytest.approx(3 * result["requests_per_s"])
