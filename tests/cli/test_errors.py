"""Every user mistake through a real ``trt-detect`` subprocess: one line on stderr, no
traceback, the documented exit code (0 ok, 1 the work failed, 2 usage error)."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.test_cli import trt_detect

USAGE, FAILURE = 2, 1


def assert_one_error(out: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert out.returncode == code, (out.returncode, out.stderr)
    assert lines[0].startswith("trt-detect"), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(1)
    for name in ("b.png", "a.jpg", "c.jpeg"):
        Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(path / name)
    (path / "notes.txt").write_text("not an image")
    return path


@pytest.fixture(scope="module")
def not_trt_detect() -> Iterator[str]:
    """A real HTTP server that is not trt-detect (every GET answers 404)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_folders_and_globs_expand_to_sorted_images(tiny_model: Path, folder: Path) -> None:
    out = trt_detect("detect", "--model", str(tiny_model), "--json", "--max-batch", "2", str(folder))
    assert out.returncode == 0, out.stderr
    assert [line.split('"')[3] for line in out.stdout.splitlines()] == [
        str(folder / n) for n in ("a.jpg", "b.png", "c.jpeg")
    ]
    out = trt_detect("detect", "--model", str(tiny_model), "--json", str(folder / "*.jp*g"))
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 2, out.stderr


def test_out_is_an_existing_file(tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.jpg"
    target.write_bytes(b"x")
    out = trt_detect("detect", "--model", str(tiny_model), "--out", str(target), str(folder / "a.jpg"))
    assert_one_error(out, USAGE, "--out", "is a file", "folder")


def test_missing_file_is_named_once(tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.jpg")
    out = trt_detect("detect", "--model", str(tiny_model), missing, str(folder / "a.jpg"))
    line = assert_one_error(out, USAGE, "no such file")
    assert line.count(missing) == 1 and out.stdout == ""
    out = trt_detect("detect", "--model", str(tiny_model), str(tmp_path / "*.png"))
    assert_one_error(out, USAGE, "*.png")
    out = trt_detect("detect", "--model", str(tiny_model), str(tmp_path))  # a folder with no images
    assert_one_error(out, USAGE, "no image files")


def test_a_bad_image_fails_alone(tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    out = trt_detect("detect", "--model", str(tiny_model), "--json", str(bad), str(folder / "a.jpg"))
    line = assert_one_error(out, FAILURE, "not a recognised image")
    assert line.count(str(bad)) == 1
    assert len(out.stdout.splitlines()) == 1  # the good image still ran


def test_option_values_are_checked_before_any_work(tiny_model: Path, folder: Path) -> None:
    image = str(folder / "a.jpg")
    model = ("--model", str(tiny_model))
    assert_one_error(trt_detect("detect", *model, "--max-batch", "0", image), USAGE, "--max-batch")
    assert_one_error(trt_detect("detect", *model, "--classes", "9", image), USAGE, "--classes 9", "3 classes")
    assert_one_error(trt_detect("detect", *model, "--conf", "3", image), USAGE, "conf")
    assert_one_error(trt_detect("detect", *model, "--conf", "abc", image), USAGE, "--conf")
    assert_one_error(trt_detect("detect", *model, "--format", "yolov9", image), USAGE, "--format")
    assert_one_error(trt_detect("detect", "--model", "missing.onnx", image), USAGE, "missing.onnx")
    assert_one_error(trt_detect("bench", *model, "--requests", "0", image), USAGE, "--requests")
    assert_one_error(trt_detect("detect", "--url", "ftp://x", image), USAGE, "--url")
    assert_one_error(trt_detect("frobnicate"), USAGE, "frobnicate")


def test_a_wrong_format_override_is_one_line(tiny_model: Path, folder: Path) -> None:
    out = trt_detect("detect", "--model", str(tiny_model), "--format", "yolov8", str(folder / "a.jpg"))
    assert_one_error(out, FAILURE)


def test_unreachable_server_fails_fast(folder: Path) -> None:
    images = [str(folder / n) for n in ("a.jpg", "b.png", "c.jpeg")]
    out = trt_detect("detect", "--url", "127.0.0.1:1", *images)  # host:port, no scheme
    assert_one_error(out, FAILURE, "cannot reach http://127.0.0.1:1", "server running")
    out = trt_detect("bench", "--url", "127.0.0.1:1", "--requests", "5", *images)
    assert_one_error(out, FAILURE, "cannot reach")


def test_a_server_that_is_not_trt_detect(not_trt_detect: str, folder: Path) -> None:
    out = trt_detect("detect", "--url", not_trt_detect, str(folder / "a.jpg"), str(folder / "b.png"))
    assert_one_error(out, FAILURE, "not a trt-detect server", "404")


def test_a_closed_pipe_is_not_an_error_message(tiny_model: Path, folder: Path) -> None:
    images = [str(folder / "a.jpg")] * 200
    cmd = [
        sys.executable,
        "-m",
        "trt_core.cli.main",
        "detect",
        "--model",
        str(tiny_model),
        "--json",
        "--max-batch",
        "1",
        *images,
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith("{")  # results stream: the first arrives before the end
        proc.stdout.close()  # as `| head -1` does
        stderr = proc.stderr.read()
        code = proc.wait(timeout=120)
    assert "Traceback" not in stderr and stderr.strip() == "", stderr
    assert code in (0, FAILURE)  # 0 if it had already written everything
