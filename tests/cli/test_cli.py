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


def test_missing_and_unreadable_images_fail_with_one_line(tiny_model: Path, images: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    missing = str(tmp_path / "nope.jpg")
    out = trt_detect("detect", "--model", str(tiny_model), "--json", missing, str(bad), str(images[0]))
    assert out.returncode == 1
    errors = out.stderr.strip().splitlines()
    assert len(errors) == 2
    assert "nope.jpg: no such file" in errors[0] and "bad.jpg" in errors[1] and "not a recognised image" in errors[1]
    assert len(out.stdout.splitlines()) == 1  # the good image still ran


def test_bad_model_and_bad_options(tmp_path: Path, images: list[Path]) -> None:
    out = trt_detect("detect", "--model", str(tmp_path / "missing.onnx"), str(images[0]))
    assert out.returncode == 1 and "model file not found" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x01garbage")
    out = trt_detect("detect", "--model", str(broken), str(images[0]))
    assert out.returncode == 1 and "trt-detect: error:" in out.stderr
    out = trt_detect("detect", "--conf", "abc", str(images[0]))
    assert out.returncode == 2
    out = trt_detect("detect", "--classes", "a,b", str(images[0]))
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--classes" in out.stderr


def test_threshold_out_of_range(tiny_model: Path, images: list[Path]) -> None:
    out = trt_detect("detect", "--model", str(tiny_model), "--conf", "3", str(images[0]))
    assert out.returncode == 1 and "conf must be between 0 and 1" in out.stderr


def test_info_reports_the_machine() -> None:
    out = trt_detect("info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert "CPUExecutionProvider" in info["onnxruntime"]["providers"]
    assert {"cuda", "tensorrt", "python"} <= set(info)


def test_bench_in_process(tiny_model: Path, images: list[Path]) -> None:
    out = trt_detect("bench", "--model", str(tiny_model), "--requests", "20", "--concurrency", "2", "--json",
                     *map(str, images))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["requests"] == 20 and result["errors"] == 0 and result["images_per_s"] > 0
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
