"""``trt_core.client`` and ``trt-detect detect --url`` against the live app (real Ray, real HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.cli.test_cli import trt_detect
from tests.threads import run_on_threads
from trt_core.client import Client, ServerError


def boxes(result: dict[str, Any]) -> np.ndarray:
    return np.asarray([d["box"] for d in result["detections"]], dtype=np.float64).reshape(-1, 4)


def test_client_single_multipart_annotate_errors_threads(served: dict[str, Any], sample_images: list[Path]) -> None:
    payloads = [p.read_bytes() for p in sample_images[:3]]
    with Client(served["url"].removeprefix("http://")) as client:
        assert client.health() == {"status": "ok"}
        assert client.model()["classes"]
        singles = [client.detect(p, conf=0.05) for p in payloads]
        many = client.detect_many(payloads, conf=0.05)  # one multipart request
        assert [r["image"] for r in many] == [r["image"] for r in singles]
        for one, batched in zip(singles, many):
            np.testing.assert_allclose(boxes(batched), boxes(one), atol=1e-2)
        assert client.annotate(payloads[0])[:3] == b"\xff\xd8\xff"
        with pytest.raises(ServerError) as caught:
            client.detect(b"not an image")
        assert caught.value.status == 400 and "not a recognised image" in caught.value.message

        results: list[int] = []
        run_on_threads(lambda i: results.append(len(client.detect(payloads[i % 3])["detections"])), 4, timeout_s=120)
        assert len(results) == 4


def test_cli_url_mode_batches_and_isolates_a_bad_image(
    served: dict[str, Any], sample_images: list[Path], tmp_path: Path
) -> None:
    images = sample_images[:3]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    host_port = served["url"].removeprefix("http://")
    out = trt_detect(
        "detect",
        "--url",
        host_port,
        "--json",
        "--max-batch",
        "2",
        "--conf",
        "0.05",
        "--out",
        str(tmp_path / "annotated"),
        *map(str, images),
        str(bad),
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    errors = out.stderr.strip().splitlines()
    assert len(errors) == 1 and str(bad) in errors[0] and "400" in errors[0]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(p) for p in images]
    expected = Client(served["url"]).detect(images[0].read_bytes(), conf=0.05)
    np.testing.assert_allclose(boxes(lines[0]), boxes(expected), atol=1e-2)
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == sorted(f"{p.stem}.jpg" for p in images)
