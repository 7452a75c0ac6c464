"""``trt_core.bench.run_load`` over real HTTP: failures never count as throughput."""

from __future__ import annotations

from tests.tools.fake_server import Script
from trt_core.bench import run_load
from trt_core.client import Client


def test_only_successes_count_and_failures_are_split_by_status(fake_server: tuple[str, Script]) -> None:
    url, script = fake_server
    script.statuses = [500, 200, 503, 200] * 5  # 10 of 20 fail
    client = Client(url, retries=0)
    seen: list[str] = []

    def send(i: int) -> object:
        return client.detect(b"img")

    result = run_load(
        send, requests=20, concurrency=1, images_per_request=2, on_done=lambda error: seen.append(type(error).__name__)
    )
    assert (result.ok, result.errors) == (10, 10)
    assert result.errors_by_status == {"500": 5, "503": 5}
    assert result.images_per_s == 2 * result.requests_per_s == 2 * 10 / result.seconds
    assert len(seen) == 20 and seen.count("NoneType") == 10 and seen.count("ServerError") == 10
    assert result.latency_ms["p50"] <= result.latency_ms["p99"] <= result.latency_ms["max"]


def test_no_success_means_no_throughput_and_no_latency() -> None:
    def send(i: int) -> object:
        return Client("127.0.0.1:1", retries=0).model()

    result = run_load(send, requests=3, concurrency=2)
    assert result.ok == 0 and result.images_per_s == 0.0 and result.latency_ms == {}
    assert result.errors_by_status == {"ServerUnreachable": 3}
    assert "no successful request" in result.summary()
