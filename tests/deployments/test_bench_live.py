"""``trt-detect bench`` against the live app, and the Grafana dashboard's queries against the
metrics that app really exports (scraped from Ray's Prometheus endpoint)."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import ray

from tests.cli.test_cli import trt_detect
from tests.tools import dashboard
from trt_core.client import Client, ServerError

SCRAPE_DEADLINE_S = 90.0  # Ray's workers report metrics every few seconds; health gauges more slowly
TARGET_LABELS = {"instance", "job"}  # added by Prometheus at scrape time, not in the exposition


def test_bench_counts_successes_only(served: dict[str, Any], sample_images: list[Path], tmp_path: Path) -> None:
    url = served["url"]
    out = trt_detect(
        "bench",
        "--url",
        url,
        "--requests",
        "12",
        "--concurrency",
        "3",
        "--warmup",
        "1",
        "--multipart",
        "2",
        "--json",
        *map(str, sample_images[:2]),
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["ok"], result["errors"], result["errors_by_status"]) == (12, 0, {})
    assert abs(result["images_per_s"] - 2 * result["requests_per_s"]) < 1e-6 and result["images_per_s"] > 0
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p90"] <= result["latency_ms"]["p99"]

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    out = trt_detect(
        "bench", "--url", url, "--requests", "4", "--concurrency", "2", "--warmup", "0", "--json", str(bad)
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] == 0 and result["errors_by_status"] == {"400": 4}
    assert result["images_per_s"] == 0 and result["latency_ms"] == {}


def scrape(port: int) -> dict[str, set[str]]:
    """Every sample name the endpoint exports -> the label names seen on it."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    exported: dict[str, set[str]] = defaultdict(set)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            exported[sample.name] |= set(sample.labels)
    return exported


def test_dashboard_queries_only_exported_metrics(served: dict[str, Any], sample_images: list[Path]) -> None:
    client = Client(served["url"], retries=0)
    client.detect_many([p.read_bytes() for p in sample_images[:3]])
    with contextlib.suppress(ServerError):
        client.detect(b"not an image")  # so that the error counters exist
    board = dashboard.load()
    wanted: dict[str, set[str]] = defaultdict(set)  # metric -> labels its queries use
    for _, expr in dashboard.queries(board):
        names, labels = dashboard.metrics_and_labels(expr)
        for name in names:
            wanted[name] |= labels - TARGET_LABELS
    gpu_only = dashboard.GPU_ONLY & set(wanted)
    port = int(ray.nodes()[0]["MetricsExportPort"])
    deadline = time.monotonic() + SCRAPE_DEADLINE_S
    while True:
        exported = scrape(port)
        missing = sorted(set(wanted) - set(exported) - gpu_only)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert not missing, f"the dashboard queries metrics the app does not export: {missing}"
    for name in sorted(set(wanted) - gpu_only):
        unknown = wanted[name] - exported[name]
        assert not unknown, f"{name} has no label(s) {sorted(unknown)}; it has {sorted(exported[name])}"
    # Ray's node agent exports the GPU gauges only where there is a GPU: they must be ones it defines.
    reporter = Path(ray.__file__).parent / "dashboard" / "modules" / "reporter" / "reporter_agent.py"
    for name in gpu_only:
        assert f'"{name.removeprefix("ray_")}"' in reporter.read_text(), name
